#include "common/records/seal.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <memory>
#include <optional>
#include <variant>

#include "common/fs.h"
#include "common/records/event.h"
#include "common/sshsig.h"
#include "common/text_safety.h"

namespace rdiag::records {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSealPrefix = "seal-";
constexpr std::string_view kSealSuffix = ".sshsig";
constexpr std::size_t kHashChunk = 65536;
constexpr std::size_t kMaxSessionIdBytes = 256;

// Printable ASCII without spaces: a newline in the id would let one seal
// message read as another.
bool is_valid_session_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxSessionIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool looks_like_seal(std::string_view name) {
  return name.starts_with(kSealPrefix) && name.ends_with(kSealSuffix);
}

// N of "seal-N.sshsig": decimal, no sign, no leading zero, at least 1. Only
// one spelling per N, so two files can never claim the same seal.
std::optional<int> seal_index_of(std::string_view name) {
  if (!looks_like_seal(name)) return std::nullopt;
  const std::string_view digits =
      name.substr(kSealPrefix.size(), name.size() - kSealPrefix.size() - kSealSuffix.size());
  if (digits.empty() || digits.front() == '0') return std::nullopt;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return n;
}

std::string path_in(const std::string& dir, std::string_view name) {
  std::string path = dir;
  path += '/';
  path.append(name);
  return path;
}

std::string seal_file_name(int n) {
  return std::string(kSealPrefix) + std::to_string(n) + std::string(kSealSuffix);
}

std::string seal_header(std::string_view session_id, std::int64_t seq, std::string_view hash) {
  std::string text(kSealMagic);
  text += '\n';
  text.append(session_id);
  text += '\n' + std::to_string(seq) + '\n';
  text.append(hash);
  text += '\n';
  return text;
}

// Attachments must already be sorted and valid.
std::string attachment_lines(const std::vector<Attachment>& sorted) {
  std::string text;
  for (const auto& a : sorted) text += a.name + ' ' + a.sha256 + '\n';
  return text;
}

Result<std::vector<Attachment>> sorted_checked(std::vector<Attachment> attachments) {
  std::sort(attachments.begin(), attachments.end(),
            [](const Attachment& a, const Attachment& b) { return a.name < b.name; });
  for (std::size_t i = 0; i < attachments.size(); ++i) {
    const Attachment& a = attachments[i];
    if (!is_valid_attachment_name(a.name)) {
      return make_error("invalid attachment name \"" + escaped_name(a.name) + "\"",
                        "bad_seal_input");
    }
    if (!is_hex_digest(a.sha256)) {
      return make_error("attachment " + a.name + ": sha256 is not 64 lower-case hex digits",
                        "bad_seal_input");
    }
    if (i > 0 && attachments[i - 1].name == a.name) {
      return make_error("attachment " + a.name + " is listed twice", "bad_seal_input");
    }
  }
  return attachments;
}

Error io_error(const std::string& what, int err) {
  return make_error(what + ": " + errno_text(err), "io_error");
}

ReadFileHooks regular_file_hooks(const std::string& path) {
  ReadFileHooks hooks;
  hooks.io_error = [path](int err) { return io_error(path, err); };
  hooks.too_big = [path] { return make_error(path + ": file is too large", "io_error"); };
  hooks.check = [path](const struct stat& st) -> Result<void> {
    if (!S_ISREG(st.st_mode)) return make_error(path + ": not a regular file", "io_error");
    return {};
  };
  return hooks;
}

// What a session folder holds, by kind; names checked, nothing read yet.
struct Listing {
  std::vector<int> seals;  // sorted
  std::vector<std::string> attachments;
};

SealCheck failed(std::string file, std::string reason, std::string message) {
  SealCheck check;
  check.file = std::move(file);
  check.reason = std::move(reason);
  check.message = std::move(message);
  return check;
}

// Sorts one directory entry into out; a name or type that has no place in a
// session folder is tamper (or a crash's leftover) and is named, not skipped.
std::optional<SealCheck> classify(const fs::directory_entry& entry, Listing& out) {
  const std::string name = entry.path().filename().string();
  std::error_code ec;
  const bool regular = fs::is_regular_file(entry.symlink_status(ec));
  if (!regular) {
    return failed(name, "unexpected_file", escaped_name(name) + ": not a regular file");
  }
  if (name == kEventsFile) return std::nullopt;
  if (looks_like_seal(name)) {
    const auto n = seal_index_of(name);
    if (!n) return failed(name, "bad_seal_name", escaped_name(name) + ": not a seal-N.sshsig name");
    out.seals.push_back(*n);
  } else if (is_valid_attachment_name(name)) {
    out.attachments.push_back(name);
  } else {
    return failed(name, "bad_attachment", escaped_name(name) + ": invalid attachment name");
  }
  return std::nullopt;
}

// Result-like, but a failure names the file as well.
struct ListResult {
  Listing listing;
  std::optional<SealCheck> bad;
};

ListResult list_dir(const std::string& dir) {
  ListResult r;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (r.listing.seals.size() > kMaxSealFiles || r.listing.attachments.size() > kMaxAttachments) {
      r.bad = failed("", "io_error", dir + ": too many files");
      return r;
    }
    r.bad = classify(*it, r.listing);
    if (r.bad) return r;
  }
  if (ec) r.bad = failed("", "io_error", dir + ": " + ec.message());
  std::sort(r.listing.seals.begin(), r.listing.seals.end());
  std::sort(r.listing.attachments.begin(), r.listing.attachments.end());
  return r;
}

// The seq and hash after each chain prefix; [0] is the empty prefix.
struct Prefix {
  std::int64_t seq = 0;
  std::string hash;
};

// The chain has already verified, so every line parses; a line that somehow
// does not ends the table, which only makes seals fail, never pass.
std::vector<Prefix> prefixes_of(std::string_view text, std::string_view genesis_prev) {
  std::vector<Prefix> out{{0, std::string(genesis_prev)}};
  for_each_line(text, [&](std::size_t, std::string_view line, std::size_t) {
    auto event = parse_event_line(line);
    if (event) out.push_back({event->seq, event->hash});
    return event.has_value();
  });
  return out;
}

struct SealContext {
  std::string_view session_id;
  const std::vector<Prefix>* prefixes;
  std::string attachment_text;
  const std::vector<std::string>* trusted;
};

bool is_trusted(const SealContext& ctx, const std::string& fingerprint) {
  return std::find(ctx.trusted->begin(), ctx.trusted->end(), fingerprint) != ctx.trusted->end();
}

// The index of the prefix, from `from` on, that the seal signs, or the
// failure. One Ed25519 check per candidate.
std::variant<std::size_t, SealCheck> match_seal(const SealContext& ctx, const std::string& file,
                                                std::string_view armor, std::size_t from) {
  // Longest prefix first: a seal is written over the whole chain of its
  // moment, so it nearly always matches at once, and a session of thousands
  // of events costs one check, not one per event. (At most one prefix can
  // match, so the order changes the cost only.)
  for (std::size_t i = ctx.prefixes->size(); i-- > from;) {
    const Prefix& p = (*ctx.prefixes)[i];
    const std::string message = seal_header(ctx.session_id, p.seq, p.hash) + ctx.attachment_text;
    auto info = sshsig_verify(armor, kSealNamespace, message);
    if (info && !is_trusted(ctx, info->fingerprint)) {
      return failed(
          file, "untrusted_signer",
          file + ": signed by " + info->fingerprint + ", which is not a trusted seal key");
    }
    if (info) return i;
    // Anything but a signature mismatch fails the same way for every prefix.
    if (info.error().reason != "bad_signature") {
      return failed(file, info.error().reason, file + ": " + info.error().message);
    }
  }
  return failed(file, "bad_seal",
                file + ": does not sign the chain (from seq " +
                    std::to_string((*ctx.prefixes)[std::min(from, ctx.prefixes->size() - 1)].seq) +
                    " on) with the attachments now in the folder");
}

// Hashes the listed attachments; the failure names the file.
std::variant<std::vector<Attachment>, SealCheck> hash_attachments(const std::string& dir,
                                                                  const Listing& listing) {
  std::vector<Attachment> out;
  for (const auto& name : listing.attachments) {
    auto hex = sha256_file_hex(path_in(dir, name));
    if (!hex) return failed(name, hex.error().reason, hex.error().message);
    out.push_back({name, std::move(*hex)});
  }
  return out;
}

std::optional<SealCheck> check_no_gap(const Listing& listing) {
  for (std::size_t i = 0; i < listing.seals.size(); ++i) {
    const int expected = static_cast<int>(i) + 1;
    if (listing.seals[i] != expected) {
      const std::string file = seal_file_name(expected);
      return failed(file, "seal_gap",
                    file + " is missing but " + seal_file_name(listing.seals[i]) + " exists");
    }
  }
  return std::nullopt;
}

}  // namespace

bool is_valid_attachment_name(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Result<std::string> seal_message(std::string_view session_id, std::int64_t last_seq,
                                 std::string_view last_hash,
                                 const std::vector<Attachment>& attachments) {
  if (!is_valid_session_id(session_id)) {
    return make_error("invalid session id \"" + escaped_name(session_id) + "\"", "bad_seal_input");
  }
  if (last_seq < 0) return make_error("negative last_seq", "bad_seal_input");
  if (!is_hex_digest(last_hash)) {
    return make_error("last_hash is not 64 lower-case hex digits", "bad_seal_input");
  }
  auto sorted = sorted_checked(attachments);
  if (!sorted) return sorted.error();
  return seal_header(session_id, last_seq, last_hash) + attachment_lines(*sorted);
}

namespace {

// Feeds everything fd holds to ctx. Returns 0 or errno (EIO for OpenSSL).
int digest_fd(int fd, EVP_MD_CTX* ctx) {
  std::array<char, kHashChunk> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return 0;
    if (EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(n)) != 1) return EIO;
  }
}

}  // namespace

Result<std::string> sha256_file_hex(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) return io_error(path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error(path, errno);
  // O_NONBLOCK above keeps a FIFO planted in the folder from hanging us here.
  if (!S_ISREG(st.st_mode)) return make_error(path + ": not a regular file", "io_error");
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return io_error(path, EIO);
  if (const int err = digest_fd(fd.get(), ctx.get()); err != 0) return io_error(path, err);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md.data(), &len) != 1) return io_error(path, EIO);
  return hex_lower(md.data(), len);
}

Result<int> latest_seal_index(const std::string& session_dir) {
  std::error_code ec;
  fs::directory_iterator it(session_dir, ec);
  int latest = 0;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const auto n = seal_index_of(it->path().filename().string());
    if (n) latest = std::max(latest, *n);
  }
  if (ec) return make_error(session_dir + ": " + ec.message(), "io_error");
  return latest;
}

Result<std::vector<Attachment>> list_attachments(const std::string& session_dir) {
  ListResult listed = list_dir(session_dir);
  if (listed.bad) return make_error(listed.bad->message, listed.bad->reason);
  auto hashed = hash_attachments(session_dir, listed.listing);
  if (auto* bad = std::get_if<SealCheck>(&hashed)) return make_error(bad->message, bad->reason);
  return std::get<std::vector<Attachment>>(std::move(hashed));
}

Result<std::string> write_seal(const std::string& session_dir, const Ed25519PrivateKey& seal_key,
                               std::string_view session_id, const ChainCheck& chain,
                               const std::vector<Attachment>& attachments) {
  // A seal over a chain that does not verify would bless the tamper.
  if (!chain.ok) return make_error("cannot seal a chain that does not verify", "bad_chain");
  auto message = seal_message(session_id, chain.last_seq, chain.last_hash, attachments);
  if (!message) return message.error();
  auto latest = latest_seal_index(session_dir);
  if (!latest) return latest.error();
  // Also keeps *latest + 1 from overflowing on a planted seal-2147483647.
  if (static_cast<std::size_t>(*latest) >= kMaxSealFiles) {
    return make_error(session_dir + ": too many seals", "io_error");
  }
  const std::string armor = sshsig_sign(seal_key, kSealNamespace, *message);
  if (armor.empty()) return make_error("signing the seal failed", "sign_failed");
  const std::string name = seal_file_name(*latest + 1);
  const std::string path = path_in(session_dir, name);
  if (const int err = write_file_atomic(path, armor, 0644, IfExists::kKeep); err != 0) {
    return make_error(path + ": " + errno_text(err), err == EEXIST ? "seal_exists" : "io_error");
  }
  // The seal counts only once its directory entry is on disk.
  if (const int err = fsync_parent_dir(path); err != 0) return io_error(path, err);
  return name;
}

namespace {

// Verifies every seal in order; fills covered_seq and seals of result.
std::optional<SealCheck> check_seals(const std::string& dir, const Listing& listing,
                                     const SealContext& ctx, SealCheck& result) {
  std::size_t from = 0;
  for (const int n : listing.seals) {
    const std::string file = seal_file_name(n);
    const std::string path = path_in(dir, file);
    auto armor = read_file_bounded(path, kMaxSealFileBytes, regular_file_hooks(path));
    if (!armor) return failed(file, armor.error().reason, armor.error().message);
    auto matched = match_seal(ctx, file, *armor, from);
    if (auto* bad = std::get_if<SealCheck>(&matched)) return std::move(*bad);
    from = std::get<std::size_t>(matched);
    result.covered_seq = (*ctx.prefixes)[from].seq;
    ++result.seals;
  }
  return std::nullopt;
}

}  // namespace

namespace {

// events.jsonl, read and verified; the failure names the line.
struct ChainRead {
  std::string text;
  ChainCheck chain;
};

std::variant<ChainRead, SealCheck> read_chain(const std::string& dir,
                                              std::string_view genesis_prev) {
  const std::string path = path_in(dir, kEventsFile);
  auto text = read_file_bounded(path, kMaxEventsFileBytes, regular_file_hooks(path));
  if (!text) return failed(std::string(kEventsFile), text.error().reason, text.error().message);
  ChainCheck chain = verify_chain(*text, genesis_prev);
  if (!chain.ok) {
    SealCheck bad = failed(std::string(kEventsFile), chain.reason,
                           std::string(kEventsFile) + ": " + chain.message);
    bad.bad_line = chain.bad_line;
    return bad;
  }
  return ChainRead{std::move(*text), std::move(chain)};
}

}  // namespace

SealCheck verify_session_dir(const std::string& session_dir, std::string_view session_id,
                             std::string_view genesis_prev,
                             const std::vector<std::string>& trusted_seal_fingerprints) {
  // An id with a newline could make one session's seal read as another's.
  if (!is_valid_session_id(session_id)) return failed("", "bad_seal_input", "invalid session id");
  auto read = read_chain(session_dir, genesis_prev);
  if (auto* bad = std::get_if<SealCheck>(&read)) return std::move(*bad);
  const ChainRead& chain = std::get<ChainRead>(read);
  ListResult listed = list_dir(session_dir);
  if (listed.bad) return std::move(*listed.bad);
  if (auto gap = check_no_gap(listed.listing)) return std::move(*gap);
  auto hashed = hash_attachments(session_dir, listed.listing);
  if (auto* bad = std::get_if<SealCheck>(&hashed)) return std::move(*bad);
  const std::vector<Prefix> prefixes = prefixes_of(chain.text, genesis_prev);
  const SealContext ctx{session_id, &prefixes,
                        attachment_lines(std::get<std::vector<Attachment>>(hashed)),
                        &trusted_seal_fingerprints};
  SealCheck result;
  if (auto bad = check_seals(session_dir, listed.listing, ctx, result)) return std::move(*bad);
  result.ok = true;
  result.unsealed_events = chain.chain.last_seq - result.covered_seq;
  if (result.unsealed_events > 0) {
    result.reason = "unsealed_tail";
    result.message = std::to_string(result.unsealed_events) + " event(s) after the latest seal";
  }
  return result;
}

}  // namespace rdiag::records
