#include "agent/logs/journal.h"

#include <systemd/sd-journal.h>

#include <cstring>
#include <ctime>
#include <memory>

#include "common/i18n.h"

namespace rdiag::agent::logs {
namespace {

struct Closer {
  void operator()(sd_journal* j) const { sd_journal_close(j); }
};
using Journal = std::unique_ptr<sd_journal, Closer>;

Error no_journal(int rc) {
  return make_error(i18n::tr("agent.logs.no_journal", std::strerror(rc < 0 ? -rc : rc)),
                    "no_journal");
}

// Opens the local system journal filtered to the units. sd_journal_open
// succeeds on a machine without journal files, so "nothing stored" is
// checked too: that is what a container or a demoted account looks like.
Result<Journal> open_journal(const std::vector<std::string>& units) {
  sd_journal* raw = nullptr;
  int rc = sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
  if (rc < 0) return no_journal(rc);
  Journal j(raw);
  std::uint64_t usage = 0;
  if (sd_journal_get_usage(j.get(), &usage) < 0 || usage == 0) return no_journal(ENOENT);
  for (const std::string& unit : units) {
    // Matches on one field are ORed by sd-journal.
    const std::string match = "_SYSTEMD_UNIT=" + unit;
    rc = sd_journal_add_match(j.get(), match.data(), match.size());
    if (rc < 0) {
      return make_error(i18n::tr("agent.logs.journal_failed", std::strerror(-rc)),
                        "journal_failed");
    }
  }
  return j;
}

// The current entry as "<time> <MESSAGE>\n"; empty when it has no MESSAGE.
std::string entry_text(sd_journal* j) {
  const void* data = nullptr;
  std::size_t size = 0;
  if (sd_journal_get_data(j, "MESSAGE", &data, &size) < 0) return {};
  std::string_view msg(static_cast<const char*>(data), size);
  msg.remove_prefix(std::strlen("MESSAGE="));
  std::uint64_t usec = 0;
  sd_journal_get_realtime_usec(j, &usec);
  std::string line = local_iso(static_cast<EpochMs>(usec / 1000));
  line += ' ';
  line.append(msg);
  if (line.back() != '\n') line += '\n';
  return line;
}

}  // namespace

std::string local_iso(EpochMs t) {
  const auto secs = static_cast<std::time_t>(t / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char head[32];
  std::strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
  // Offsets stay within +-14 h, so two digits each always suffice.
  const int off = static_cast<int>(tm.tm_gmtoff / 60);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%03d%c%02d:%02d", head, static_cast<int>(t % 1000),
                off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
  return out;
}

Result<JournalRead> read_journal(const std::vector<std::string>& units,
                                 std::optional<EpochMs> since, std::uint64_t max_bytes,
                                 const std::function<void(std::string_view)>& sink) {
  auto j = open_journal(units);
  if (!j) return j.error();
  const int rc =
      since ? sd_journal_seek_realtime_usec(j->get(), static_cast<std::uint64_t>(*since) * 1000)
            : sd_journal_seek_head(j->get());
  if (rc < 0) {
    return make_error(i18n::tr("agent.logs.journal_failed", std::strerror(-rc)), "journal_failed");
  }
  JournalRead out;
  while (sd_journal_next(j->get()) > 0) {
    const std::string line = entry_text(j->get());
    if (line.empty()) continue;
    if (out.bytes + line.size() > max_bytes) {
      out.cut = true;
      break;
    }
    out.bytes += line.size();
    ++out.entries;
    sink(line);
  }
  return out;
}

Result<std::string> tail_journal(const std::vector<std::string>& units, std::size_t lines) {
  auto j = open_journal(units);
  if (!j) return j.error();
  if (const int rc = sd_journal_seek_tail(j->get()); rc < 0) {
    return make_error(i18n::tr("agent.logs.journal_failed", std::strerror(-rc)), "journal_failed");
  }
  // Step back `lines` entries, then read forward: oldest first.
  std::size_t back = 0;
  while (back < lines && sd_journal_previous(j->get()) > 0) ++back;
  std::string out;
  std::string first = entry_text(j->get());
  if (back > 0) out += first;
  for (std::size_t i = 1; i < back && sd_journal_next(j->get()) > 0; ++i)
    out += entry_text(j->get());
  return out;
}

}  // namespace rdiag::agent::logs
