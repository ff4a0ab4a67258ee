// Engine::Scan: a source's bytes, decoded and cut into blocks of whole lines;
// one Vectorscan pass per block, PCRE2 only on the lines it flagged.
#include <string>

#include "common/redact/checks.h"
#include "common/redact/engine_core.h"
#include "common/text_safety.h"

namespace rdiag::redact {
namespace {

// About 1 MiB per Vectorscan call: per-call overhead is noise at that size
// (a call per line costs more than the scan on short log lines), and the
// block plus its decoded copy still fit in a server's L2/L3 cache.
constexpr std::size_t kBlockBytes = std::size_t{1} << 20;
// A "line" without '\n' this long is cut, so memory stays bounded.
constexpr std::size_t kMaxLineBytes = std::size_t{4} << 20;

}  // namespace

struct Engine::Scan::State {
  State(std::shared_ptr<const detail::EngineCore> c, Encoding e, ScanOptions o)
      : core(std::move(c)),
        enc(e),
        opt(std::move(o)),
        redactor(*core),
        md(detail::make_match_data()) {
    for (const auto& r : core->scan) result.rules.push_back(RuleStats{r.id, 0, {}, {}, {}});
    if (opt.adhoc != nullptr && opt.adhoc->size() > 0) {
      adhoc = opt.adhoc->core();
      adhoc_scratch = adhoc->db.new_scratch();
      for (const auto& p : adhoc->patterns) result.adhoc.push_back(RuleStats{p, 0, {}, {}, {}});
    }
  }

  void feed(std::string_view bytes);
  std::string_view whole_blocks(std::string_view bytes);
  void process(std::string_view raw);
  std::string_view decode(std::string_view raw);
  void line(std::string_view text, std::span<const std::uint32_t> hits);
  void scan_adhoc(std::uint64_t first_line);
  void record(RuleStats& s, std::uint64_t line_no, std::string_view redacted) const;

  std::shared_ptr<const detail::EngineCore> core;
  Encoding enc;
  ScanOptions opt;
  detail::LineRedactor redactor;
  detail::MatchData md;
  detail::LineFlags flags;
  std::string pending;
  std::string decoded;
  Gb18030Decoder gb;
  ScanResult result;
  std::vector<std::uint32_t> ids;
  std::shared_ptr<const detail::AdHocCore> adhoc;
  std::shared_ptr<hs_scratch_t> adhoc_scratch;
  detail::LineFlags adhoc_flags;
  std::string redacted_block;
  bool blind = false;  // this block could not be scanned
};

void Engine::Scan::State::feed(std::string_view bytes) {
  // Finish the pending partial line first, so big chunks can go straight
  // from the caller's buffer without a copy.
  if (!pending.empty() && pending.size() + bytes.size() >= kBlockBytes) {
    const auto nl = bytes.find('\n');
    if (nl != std::string_view::npos) {
      pending.append(bytes.substr(0, nl + 1));
      bytes.remove_prefix(nl + 1);
      process(pending);
      pending.clear();
    }
  }
  if (pending.empty()) bytes = whole_blocks(bytes);
  pending.append(bytes);
  if (pending.size() < kBlockBytes) return;
  const auto nl = pending.rfind('\n');
  if (nl != std::string::npos) {
    process(std::string_view(pending).substr(0, nl + 1));
    pending.erase(0, nl + 1);
  } else if (pending.size() >= kMaxLineBytes) {
    pending += '\n';
    process(pending);
    pending.clear();
  }
}

std::string_view Engine::Scan::State::whole_blocks(std::string_view bytes) {
  while (bytes.size() >= kBlockBytes) {
    const auto nl = bytes.rfind('\n', kBlockBytes - 1);
    if (nl == std::string_view::npos) break;
    process(bytes.substr(0, nl + 1));
    bytes.remove_prefix(nl + 1);
  }
  return bytes;
}

std::string_view Engine::Scan::State::decode(std::string_view raw) {
  if (enc == Encoding::kGb18030) return decoded = gb.decode(raw);
  if (is_valid_utf8(raw)) return raw;
  if (enc == Encoding::kUtf8) return decoded = sanitize_utf8(raw);
  // auto: decided per line, so one GB18030 line in a UTF-8 log is still read.
  decoded.clear();
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const auto nl = raw.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? raw.size() : nl + 1;
    const std::string_view piece = raw.substr(pos, end - pos);
    if (is_valid_utf8(piece)) {
      decoded.append(piece);
    } else {
      decoded.append(gb.decode(piece));
    }
    pos = end;
  }
  return decoded;
}

void Engine::Scan::State::process(std::string_view raw) {
  const std::string_view text = decode(raw);
  blind = !detail::flag_lines(core->db, redactor.scratch(), text, core->expressions, &flags,
                              core->digit_entry);
  // A block ends with '\n' (except the last), which leaves an empty last piece.
  std::size_t lines = flags.line_count();
  if (text.empty() || text.back() == '\n') --lines;
  const std::uint64_t first_line = result.lines + 1;  // numbering runs on across blocks
  redacted_block.clear();
  auto hit = flags.hits.begin();
  for (std::size_t i = 0; i < lines; ++i) {
    ids.clear();
    for (; hit != flags.hits.end() && hit->first == i; ++hit) ids.push_back(hit->second);
    line(flags.line(text, i), ids);
  }
  if (adhoc) scan_adhoc(first_line);
}

void Engine::Scan::State::line(std::string_view text, std::span<const std::uint32_t> hits) {
  const std::uint64_t line_no = ++result.lines;
  std::string owned;
  std::string_view out = text;
  if (blind) {
    // Vectorscan could not scan this block: fail closed on every line.
    detail::count(&result.redactions, detail::kUnavailableId);
    result.redactions.lines_failed_closed += 1;
    owned = detail::marker(std::string(detail::kUnavailableId) + ":line");
    out = owned;
  } else if (!hits.empty() || redactor.in_pem()) {
    owned = redactor.redact(text, hits, &result.redactions);
    out = owned;
  }
  for (const std::uint32_t id : hits) {
    const detail::Entry& e = core->entries[id];
    // Scan rules see the original text; Vectorscan only said "maybe".
    if (e.kind == detail::EntryKind::kScan && core->scan[e.index].exact.matches(text, md)) {
      record(result.rules[e.index], line_no, out);
    }
  }
  if (opt.on_line) opt.on_line(line_no, out);
  if (adhoc) {
    redacted_block.append(out);
    redacted_block += '\n';
  }
}

// Ad-hoc patterns get the redacted block: they never see a secret.
void Engine::Scan::State::scan_adhoc(std::uint64_t first_line) {
  if (!adhoc_scratch) return;
  if (!detail::flag_lines(adhoc->db, adhoc_scratch.get(), redacted_block, adhoc->exact.size(),
                          &adhoc_flags)) {
    return;  // ad-hoc counts are lost for this block; nothing secret is at stake
  }
  for (const auto& [i, id] : adhoc_flags.hits) {
    const std::string_view text = adhoc_flags.line(redacted_block, i);
    if (i + 1 < adhoc_flags.line_count() && adhoc->exact[id].matches(text, md)) {
      record(result.adhoc[id], first_line + i, text);
    }
  }
}

void Engine::Scan::State::record(RuleStats& s, std::uint64_t line_no,
                                 std::string_view redacted) const {
  if (!redacted.empty() && redacted.back() == '\r') redacted.remove_suffix(1);
  const std::string_view ts = leading_timestamp(redacted);
  if (++s.count == 1) s.first = Seen{line_no, std::string(ts)};
  s.last.line = line_no;
  s.last.timestamp.assign(ts);
  if (s.samples.size() < opt.max_samples) {
    s.samples.emplace_back(redacted.substr(0, utf8_prefix(redacted, opt.max_sample_bytes)));
  }
}

Engine::Scan::Scan(std::unique_ptr<State> state) : state_(std::move(state)) {}
Engine::Scan::~Scan() = default;
Engine::Scan::Scan(Scan&&) noexcept = default;
Engine::Scan& Engine::Scan::operator=(Scan&&) noexcept = default;

void Engine::Scan::feed(std::string_view bytes) {
  state_->feed(bytes);
}

ScanResult Engine::Scan::finish() {
  if (!state_->pending.empty()) {
    const std::string rest = std::move(state_->pending);
    state_->pending.clear();
    state_->process(rest);
  }
  return std::move(state_->result);
}

Engine::Scan Engine::start(Encoding enc, ScanOptions options) const {
  return Scan(std::make_unique<Scan::State>(core_, enc, std::move(options)));
}

}  // namespace rdiag::redact
