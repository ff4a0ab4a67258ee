#include "common/records/journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace rdiag::records {
namespace {

// How much is asked of pread() at a time while reading a journal.
constexpr std::size_t kReadChunk = 65536;

Error io_error(const std::string& path, std::string_view what, int err, std::string reason) {
  return make_error(fmt::format("{}: {}: {}", path, what, errno_text(err)), std::move(reason));
}

// O_NOFOLLOW: a symlink planted in the records folder must not redirect the
// record. O_APPEND: every write lands at the end even if the size we track
// were wrong, so an event can never overwrite another.
Result<std::unique_ptr<UniqueFd>> open_fd(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return io_error(path, "cannot open the record", errno, "open_failed");
  auto owned = std::make_unique<UniqueFd>(fd);
  // Two writers would fork the chain; the lock dies with the process.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      return make_error(fmt::format("{}: another writer holds the record", path), "busy");
    }
    return io_error(path, "cannot lock the record", err, "open_failed");
  }
  return owned;
}

// Checks the file type and size before any byte is read.
Result<off_t> checked_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return io_error(path, "cannot stat the record", errno, "read_failed");
  if (!S_ISREG(st.st_mode)) {
    return make_error(fmt::format("{}: the record is not a regular file", path), "not_regular");
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxJournalBytes) {
    return make_error(fmt::format("{}: the record holds {} bytes, more than the {} allowed", path,
                                  st.st_size, kMaxJournalBytes),
                      "too_big");
  }
  return st.st_size;
}

// The whole content from offset 0 (pread: O_APPEND only affects writes).
Result<std::string> read_content(int fd, const std::string& path, off_t size) {
  std::string text(static_cast<std::size_t>(size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const std::size_t want = std::min(kReadChunk, text.size() - got);
    const ssize_t n = ::pread(fd, text.data() + got, want, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(path, "cannot read the record", errno, "read_failed");
    if (n == 0) break;  // shrank under us; what we have is verified as is
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return text;
}

// Cuts the unterminated final line and returns the size left. fsync before
// anything is appended, or a crash could bring the cut bytes back in front of
// a newer event.
Result<off_t> cut_tail(int fd, const std::string& path, std::string_view text, std::size_t line,
                       RecoveryReport* report) {
  const std::size_t nl = text.rfind('\n');
  const std::size_t good = nl == std::string_view::npos ? 0 : nl + 1;
  if (::ftruncate(fd, static_cast<off_t>(good)) != 0 || ::fsync(fd) != 0) {
    return io_error(path, "cannot cut the unterminated last line", errno, "repair_failed");
  }
  if (report != nullptr) *report = RecoveryReport{true, text.size() - good, line};
  return static_cast<off_t>(good);
}

// A new (empty) record is durable only once its directory entry is.
Result<void> sync_new_file(const std::string& path, off_t size) {
  if (size != 0) return {};
  if (const int err = fsync_parent_dir(path); err != 0) {
    return io_error(path, "cannot sync the record's folder", err, "open_failed");
  }
  return {};
}

// One write(): O_APPEND makes it land whole at the end, and a crash leaves at
// most one unterminated line, which recovery cuts. A short write is not
// retried: it means the disk or the size limit is reached, and the caller
// rolls the partial line back instead.
// Returns what went wrong, or "" once the line is durable.
std::string write_durably(int fd, std::string_view line) {
  ssize_t n = -1;
  do {
    n = ::write(fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno_text(errno);
  if (static_cast<std::size_t>(n) != line.size()) {
    return fmt::format("only {} of {} bytes were written (disk full or file size limit)", n,
                       line.size());
  }
  if (::fdatasync(fd) != 0) return fmt::format("fdatasync: {}", errno_text(errno));
  return {};
}

}  // namespace

Journal::Journal(std::unique_ptr<UniqueFd> fd, std::string path, std::string genesis_prev,
                 TypePredicate known_type)
    : fd_(std::move(fd)),
      path_(std::move(path)),
      genesis_prev_(std::move(genesis_prev)),
      known_type_(known_type) {
  last_.hash = genesis_prev_;
}

Result<Journal> Journal::open(const std::string& path, std::string_view genesis_prev,
                              RecoveryReport* report, TypePredicate known_type) {
  if (report != nullptr) *report = RecoveryReport{};
  auto fd = open_fd(path);
  if (!fd) return fd.error();
  auto size = checked_size((*fd)->get(), path);
  if (!size) return size.error();
  auto text = read_content((*fd)->get(), path, *size);
  if (!text) return text.error();
  const ChainCheck check = verify_chain(*text, genesis_prev, known_type);
  if (!check.ok && check.reason != "truncated_tail") {
    return make_error(
        fmt::format("{}: the record was altered: {} ({})", path, check.message, check.reason),
        "tamper");
  }
  Result<off_t> good_size = static_cast<off_t>(text->size());
  if (!check.ok) good_size = cut_tail((*fd)->get(), path, *text, check.bad_line, report);
  if (!good_size) return good_size.error();
  if (auto synced = sync_new_file(path, *size); !synced) return synced.error();
  Journal journal(std::move(*fd), path, std::string(genesis_prev), known_type);
  journal.last_.seq = check.last_seq;
  journal.last_.hash = check.last_hash;
  journal.size_ = *good_size;
  return journal;
}

Result<Event> Journal::append(std::string type, std::string actor, nlohmann::json data,
                              std::string ts) {
  if (failed_ || !fd_) {
    return make_error(fmt::format("{}: an earlier write failed; the record must be reopened "
                                  "before anything more is recorded",
                                  path_),
                      "recording_failed");
  }
  const Event* prev = last_.seq == 0 ? nullptr : &last_;
  auto event = make_next_event(prev, genesis_prev_, std::move(type), std::move(actor),
                               std::move(data), std::move(ts), known_type_);
  if (!event) return event.error();
  const std::string line = event_line(*event) + "\n";
  if (const std::string failure = write_durably(fd_->get(), line); !failure.empty()) {
    roll_back();
    return make_error(fmt::format("{}: cannot record the event: {}", path_, failure),
                      "recording_failed");
  }
  size_ += static_cast<off_t>(line.size());
  last_ = *event;
  return event;
}

// Best effort: recovery at the next open settles whatever is left, and until
// then nothing more is appended (failed_).
void Journal::roll_back() {
  failed_ = true;
  if (::ftruncate(fd_->get(), size_) == 0) static_cast<void>(::fsync(fd_->get()));
}

}  // namespace rdiag::records
