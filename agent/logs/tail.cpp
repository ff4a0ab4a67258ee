// logs.tail: the last lines of a source, decoded and redacted.
#include <deque>

#include "agent/logs/journal.h"
#include "agent/logs/reader.h"
#include "agent/logs/scan.h"
#include "agent/worker/redactor.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent::logs {
namespace {

using json = nlohmann::json;

// Lines read before the window and thrown away after redaction: a private
// key's PEM block (RSA 8192 is about 100 lines) that began above the window
// must still be seen from its BEGIN line, or its body would be shown.
constexpr std::size_t kContextLines = 256;
constexpr std::size_t kMaxTailBytes = std::size_t{16} << 20;

// The current file changed last (a rotated one when no current file is left).
const LogFile* newest(const FileList& list) {
  const LogFile* best = nullptr;
  for (const LogFile& f : list.files) {
    if (best == nullptr || (f.current && !best->current) ||
        (f.current == best->current && f.mtime >= best->mtime)) {
      best = &f;
    }
  }
  return best;
}

Result<std::string> read_tail(const Source& s, std::size_t lines, std::string& file) {
  if (s.kind == SourceKind::kJournal) {
    file = "journal";
    return tail_journal(s.units, lines + kContextLines);
  }
  const FileList list = list_files(s, std::nullopt);
  const LogFile* f = newest(list);
  if (f == nullptr) {
    std::string globs;
    for (const auto& g : s.globs) globs += (globs.empty() ? "" : ", ") + g;
    return make_error(i18n::tr("agent.logs.no_files", s.name, globs), "no_files");
  }
  file = f->path;
  auto reader = LogReader::open(f->path, f->gz);
  if (!reader) return reader.error();
  return reader->tail(lines + kContextLines, kMaxTailBytes);
}

}  // namespace

Result<json> tail_log(const TailInput& in) {
  const Source* s = find_source(in.sources, in.source);
  if (s == nullptr) {
    return make_error(
        i18n::tr("agent.logs.unknown_source", sanitize_utf8(in.source), source_names(in.sources)),
        "unknown_source");
  }
  auto engine = build_redactor(in.redact, in.plugins);
  if (!engine) return engine.error();
  std::string file;
  auto text = read_tail(*s, in.lines, file);
  if (!text) return text.error();
  std::deque<std::string> last;
  redact::ScanOptions opt;
  opt.max_samples = 0;
  opt.on_line = [&last, &in](std::uint64_t, std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    last.emplace_back(line);
    if (last.size() > in.lines) last.pop_front();
  };
  const auto enc = s->kind == SourceKind::kJournal ? redact::Encoding::kUtf8 : s->encoding;
  auto scan = engine->start(enc, std::move(opt));
  scan.feed(*text);
  (void)scan.finish();
  json lines = json::array();
  for (auto& l : last) lines.push_back(std::move(l));
  return json{{"source", s->name}, {"file", file}, {"lines", std::move(lines)}};
}

}  // namespace rdiag::agent::logs
