#include "agent/consent/codes.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <set>

#include "common/digest.h"
#include "common/i18n.h"
#include "common/records/chain.h"
#include "common/records/event.h"
#include "common/text_safety.h"

namespace rdiag::agent::consent {
namespace {

using i18n::tr;
using json = nlohmann::json;

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::array<std::string_view, 4> kScopes = {"diagnose", "shell", "transfer", "fix"};
constexpr std::uint64_t kScryptN = 16384;  // kKdf names these three
constexpr std::uint64_t kScryptR = 8;
constexpr std::uint64_t kScryptP = 1;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;
constexpr std::size_t kActorHex = 8;
constexpr std::size_t kMaxRefBytes = 128;
constexpr std::string_view kHexDigits = "0123456789abcdef";
constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string openssl_error() {
  char buf[256] = {};
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return buf;
}

Result<std::string> random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return make_error(tr("consent.code.no_random", openssl_error()), "unavailable");
  }
  return out;
}

// scrypt rather than a plain hash: the code has only 40 bits, and the state
// file may be copied; at ~50 ms and 16 MiB a try, 2^40 tries are out of reach.
Result<std::string> hash_code(std::string_view code8, std::string_view salt) {
  std::array<unsigned char, kHashBytes> out{};
  if (EVP_PBE_scrypt(code8.data(), code8.size(),
                     reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), kScryptN,
                     kScryptR, kScryptP, 0, out.data(), out.size()) != 1) {
    return make_error(tr("consent.code.hash_failed", openssl_error()), "unavailable");
  }
  return hex_lower(out.data(), out.size());
}

// One code point of valid-or-not UTF-8 at s[i]; an invalid byte reads as
// U+FFFD and advances by one.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  const std::size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
  if (len == 1 || first_invalid_utf8(s.substr(i, len)).has_value() || i + len > s.size()) {
    ++i;
    return len == 1 ? b : U'\uFFFD';
  }
  char32_t cp = b & (0xFFU >> (len + 1));
  for (std::size_t k = 1; k < len; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3FU);
  i += len;
  return cp;
}

// Full-width ASCII (what a Chinese input method types) as ASCII; the dash
// family as '-'; the ideographic space as ' '.
char32_t fold_width(char32_t cp) {
  if (cp >= 0xFF01 && cp <= 0xFF5E) return cp - 0xFF01 + 0x21;
  if ((cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212) return U'-';
  if (cp == 0x3000) return U' ';
  return cp;
}

// The Crockford character for cp, with I/L read as 1 and O as 0; '\0' when
// cp is in no code.
char crockford_char(char32_t cp) {
  if (cp >= U'a' && cp <= U'z') cp = cp - U'a' + U'A';
  if (cp == U'I' || cp == U'L') return '1';
  if (cp == U'O') return '0';
  if (cp > 0x7F) return '\0';
  const char c = static_cast<char>(cp);
  return kAlphabet.find(c) != std::string_view::npos ? c : '\0';
}

std::string_view trim(std::string_view s) {
  // ASCII white space only: normalize_code skips other spaces as separators.
  constexpr std::string_view kSpace = " \t\r\n";
  while (!s.empty() && (kSpace.find(s.front()) != std::string_view::npos)) s.remove_prefix(1);
  while (!s.empty() && (kSpace.find(s.back()) != std::string_view::npos)) s.remove_suffix(1);
  return s;
}

bool is_fingerprint(std::string_view s) {
  constexpr std::string_view kPrefix = "SHA256:";
  if (s.substr(0, kPrefix.size()) != kPrefix || s.size() != kPrefix.size() + 43) return false;
  return s.substr(kPrefix.size()).find_first_not_of(kB64) == std::string_view::npos;
}

// An employee id or a fingerprint: text a person typed, shown in listings.
bool is_engineer_ref(std::string_view s) {
  if (s.empty() || s.size() > kMaxRefBytes || first_invalid_utf8(s)) return false;
  if (s.front() == ' ' || s.back() == ' ') return false;
  if (s.substr(0, 7) == "SHA256:") return is_fingerprint(s);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7F) return false;
    const bool c1 = b == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xA0;
    if (c1) return false;
  }
  return true;
}

bool is_scope(std::string_view s) {
  return std::find(kScopes.begin(), kScopes.end(), s) != kScopes.end();
}

Result<std::vector<std::string>> canonical_scopes(const std::vector<std::string>& scopes) {
  if (scopes.empty()) return make_error(tr("consent.code.no_scopes"), "bad_params");
  for (const auto& s : scopes) {
    if (!is_scope(s)) {
      return make_error(tr("consent.code.bad_scope", terminal_safe(s)), "bad_params");
    }
  }
  std::vector<std::string> out;
  for (auto scope : kScopes) {
    if (std::find(scopes.begin(), scopes.end(), scope) != scopes.end()) out.emplace_back(scope);
  }
  return out;
}

Refused plain_refusal(Refusal r, std::string message) {
  Refused out;
  out.refusal = r;
  out.message = std::move(message);
  return out;
}

// How long until `until`, as DESIGN.md writes durations: 90s under two
// minutes, else whole minutes rounded up (9m), so a wait is never understated.
std::string wait_text(BootClock::time_point now, BootClock::time_point until) {
  const auto secs =
      std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(until - now).count());
  if (secs < 120) return std::to_string(secs) + "s";
  return std::to_string((secs + 59) / 60) + "m";
}

}  // namespace

BootClock::time_point BootClock::now() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

Result<std::string> generate_code() {
  auto bytes = random_bytes(5);
  if (!bytes) return bytes.error();
  std::uint64_t bits = 0;
  for (char c : *bytes) bits = (bits << 8) | static_cast<unsigned char>(c);
  std::string code(kCodeChars, '0');
  for (std::size_t i = 0; i < kCodeChars; ++i) {
    code[kCodeChars - 1 - i] = kAlphabet[bits & 31U];
    bits >>= 5;
  }
  return code;
}

std::string format_code(std::string_view code8) {
  return std::string(code8.substr(0, 4)) + "-" + std::string(code8.substr(4));
}

Result<std::string> normalize_code(std::string_view input) {
  const std::string_view s = trim(input);
  std::string code;
  std::size_t position = 0;  // in code points, for the message
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t start = i;
    const char32_t cp = fold_width(next_code_point(s, i));
    ++position;
    if (cp == U'-' || cp == U' ') continue;
    const char c = crockford_char(cp);
    if (c == 0) {
      const std::string shown = terminal_safe(sanitize_utf8(s.substr(start, i - start)));
      return make_error(tr("consent.code.malformed.char", position, shown), "malformed");
    }
    code += c;
  }
  if (code.empty()) return make_error(tr("consent.code.malformed.empty"), "malformed");
  if (code.size() != kCodeChars) {
    return make_error(tr("consent.code.malformed.length", code.size()), "malformed");
  }
  return code;
}

std::string_view refusal_word(Refusal r) {
  switch (r) {
    case Refusal::kMalformed:
      return "malformed";
    case Refusal::kWrong:
      return "wrong";
    case Refusal::kExpired:
      return "expired";
    case Refusal::kUsed:
      return "used";
    case Refusal::kLocked:
      return "locked";
    case Refusal::kNotForYou:
      return "not_for_you";
    case Refusal::kUnavailable:
      return "unavailable";
  }
  return "wrong";
}

bool counts_toward_lockout(Refusal r) {
  return r == Refusal::kWrong || r == Refusal::kExpired || r == Refusal::kUsed ||
         r == Refusal::kNotForYou;
}

std::string CodeEntry::actor() const {
  return "code:" + hash.substr(0, kActorHex);
}

Result<CodeBook> CodeBook::create() {
  auto salt = random_bytes(kSaltBytes);
  if (!salt) return salt.error();
  CodeBook book;
  book.salt_ = std::move(*salt);
  return book;
}

Result<Issued> CodeBook::issue(const std::vector<std::string>& scopes, int minutes,
                               const std::string& engineer, BootClock::time_point now,
                               std::chrono::system_clock::time_point wall_now) {
  auto canonical = canonical_scopes(scopes);
  if (!canonical) return canonical.error();
  if (minutes < 1 || minutes > kMaxCodeMinutes) {
    return make_error(tr("consent.code.bad_minutes", minutes, kMaxCodeMinutes), "bad_params");
  }
  if (!engineer.empty() && !is_engineer_ref(engineer)) {
    return make_error(tr("consent.code.bad_engineer", terminal_safe(engineer)), "bad_params");
  }
  purge(now);
  if (codes_.size() >= kMaxCodes) {
    return make_error(tr("consent.code.too_many", codes_.size()), "limit_exceeded");
  }
  if (codes_.empty()) {  // nothing hashed under the old salt is left: draw a new one
    auto salt = random_bytes(kSaltBytes);
    if (!salt) return salt.error();
    salt_ = std::move(*salt);
  }
  // A new code must not share its actor prefix with a code in the book, so
  // that a record's code:<hex> names one code; a clash is a 1 in 2^32 event.
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto code = generate_code();
    if (!code) return code.error();
    auto hash = hash_code(*code, salt_);
    if (!hash) return hash.error();
    const bool clash = std::any_of(codes_.begin(), codes_.end(), [&](const CodeEntry& e) {
      return e.hash.compare(0, kActorHex, *hash, 0, kActorHex) == 0;
    });
    if (clash) continue;
    CodeEntry entry;
    entry.hash = std::move(*hash);
    entry.scopes = std::move(*canonical);
    entry.minutes = minutes;
    entry.engineer = engineer;
    entry.issued_at = records::format_ts(wall_now);
    entry.expires_at = records::format_ts(wall_now + kCodeLifetime);
    entry.expires = now + kCodeLifetime;
    codes_.push_back(entry);
    return Issued{format_code(*code), std::move(entry)};
  }
  return make_error(tr("consent.code.no_random", "collision"), "unavailable");
}

Refused CodeBook::refuse(Refusal r, const Redeemer& who, std::string code_actor,
                         BootClock::time_point now) {
  Refused out;
  out.refusal = r;
  out.code_actor = std::move(code_actor);
  if (counts_toward_lockout(r)) {
    Lockout& l = lockouts_[who.fingerprint];
    if (now >= l.window_end) l = Lockout{now + kLockoutWindow, 0};
    ++l.failures;
    out.failures = l.failures;
    if (l.failures >= kMaxFailures) out.locked_until = l.window_end;
  }
  const int window = static_cast<int>(kLockoutWindow.count());
  switch (r) {
    case Refusal::kWrong:
      out.message = out.locked_until ? tr("consent.code.refused.wrong_now_locked", kMaxFailures,
                                          window, wait_text(now, *out.locked_until))
                                     : tr("consent.code.refused.wrong", kMaxFailures, window);
      break;
    case Refusal::kExpired:
      out.message = tr("consent.code.refused.expired", kCodeLifetime.count());
      break;
    case Refusal::kUsed:
      out.message = tr("consent.code.refused.used");
      break;
    case Refusal::kNotForYou:
      out.message = tr("consent.code.refused.not_for_you",
                       terminal_safe(who.id.empty() ? who.fingerprint : who.id));
      break;
    default:
      break;  // malformed, locked and unavailable are worded by the caller
  }
  return out;
}

Redemption CodeBook::redeem(std::string_view input, const Redeemer& who,
                            BootClock::time_point now) {
  // Locked first: while locked, not even the shape of the input is judged.
  if (auto until = locked_until(who.fingerprint, now)) {
    Refused out =
        plain_refusal(Refusal::kLocked, tr("consent.code.refused.locked", kMaxFailures,
                                           kLockoutWindow.count(), wait_text(now, *until)));
    out.failures = lockouts_.find(who.fingerprint)->second.failures;
    out.locked_until = until;
    return out;
  }
  auto code = normalize_code(input);
  if (!code) return plain_refusal(Refusal::kMalformed, code.error().message);
  auto hash = hash_for(*code);
  if (!hash) {
    return plain_refusal(Refusal::kUnavailable,
                         tr("consent.code.refused.unavailable", hash.error().message));
  }
  // Compare against every entry, without stopping early or branching on the
  // bytes, so the time taken says nothing about which hash came close.
  CodeEntry* match = nullptr;
  for (auto& e : codes_) {
    const bool same = e.hash.size() == hash->size() &&
                      CRYPTO_memcmp(e.hash.data(), hash->data(), hash->size()) == 0;
    if (same) match = &e;
  }
  if (match == nullptr) return refuse(Refusal::kWrong, who, {}, now);
  const bool for_caller = match->engineer.empty() || match->engineer == who.fingerprint ||
                          (!who.id.empty() && match->engineer == who.id);
  if (!for_caller) return refuse(Refusal::kNotForYou, who, match->actor(), now);
  if (match->used) return refuse(Refusal::kUsed, who, match->actor(), now);
  if (now >= match->expires) return refuse(Refusal::kExpired, who, match->actor(), now);
  match->used = true;
  match->used_by = who.fingerprint;
  return Redeemed{match->scopes, match->minutes, match->actor(), match->engineer};
}

std::size_t CodeBook::purge(BootClock::time_point now) {
  const std::size_t before = codes_.size() + lockouts_.size();
  std::erase_if(codes_,
                [&](const CodeEntry& e) { return now >= e.expires + kRememberAfterExpiry; });
  std::erase_if(lockouts_, [&](const auto& kv) { return now >= kv.second.window_end; });
  return before - codes_.size() - lockouts_.size();
}

Result<std::string> CodeBook::hash_for(std::string_view code8) const {
  return hash_code(code8, salt_);
}

std::optional<BootClock::time_point> CodeBook::locked_until(std::string_view fingerprint,
                                                            BootClock::time_point now) const {
  auto it = lockouts_.find(fingerprint);
  if (it == lockouts_.end() || it->second.failures < kMaxFailures) return std::nullopt;
  if (now >= it->second.window_end) return std::nullopt;
  return it->second.window_end;
}

// ---- persistence ----------------------------------------------------------

std::int64_t boot_ns(BootClock::time_point t) {
  return t.time_since_epoch().count();
}

BootClock::time_point from_boot_ns(std::int64_t ns) {
  return BootClock::time_point(BootClock::duration(ns));
}

namespace {

Error bad_field(std::string_view path, const std::string& what) {
  return make_error(tr("consent.code.file.bad_field", path, what), "bad_state");
}

// A reader of one JSON object at `path`, strict about its keys.
class Fields {
 public:
  Fields(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  Result<void> only(std::initializer_list<std::string_view> keys) const {
    if (!obj_.is_object()) return bad_field(path_, tr("consent.code.file.want_object"));
    for (const auto& [key, value] : obj_.items()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        return bad_field(at(key), tr("consent.code.file.unknown"));
      }
    }
    return {};
  }
  std::string at(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  Result<const json*> get(std::string_view key) const {
    auto it = obj_.find(std::string(key));
    if (it == obj_.end()) return bad_field(at(key), tr("consent.code.file.missing"));
    return &*it;
  }
  Result<std::string> string(std::string_view key) const {
    auto v = get(key);
    if (!v) return v.error();
    if (!(*v)->is_string()) return bad_field(at(key), tr("consent.code.file.want_string"));
    return (*v)->get<std::string>();
  }
  Result<std::string> hex(std::string_view key, std::size_t digits) const {
    auto s = string(key);
    if (!s) return s;
    const bool ok = s->size() == digits && s->find_first_not_of(kHexDigits) == std::string::npos;
    if (!ok) return bad_field(at(key), tr("consent.code.file.want_hex", digits));
    return s;
  }
  Result<std::string> ts(std::string_view key) const {
    auto s = string(key);
    if (s && !records::is_valid_ts(*s)) return bad_field(at(key), tr("consent.code.file.want_ts"));
    return s;
  }
  Result<std::int64_t> integer(std::string_view key, std::int64_t lo, std::int64_t hi) const {
    auto v = get(key);
    if (!v) return v.error();
    const json& j = **v;
    const bool in_range =
        (j.is_number_unsigned() && j.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi)) ||
        (j.is_number_integer() && !j.is_number_unsigned());
    if (in_range) {
      const auto n = j.get<std::int64_t>();
      if (n >= lo && n <= hi) return n;
    }
    return bad_field(at(key), tr("consent.code.file.want_int", lo, hi));
  }
  Result<bool> boolean(std::string_view key) const {
    auto v = get(key);
    if (!v) return v.error();
    if (!(*v)->is_boolean()) return bad_field(at(key), tr("consent.code.file.want_bool"));
    return (*v)->get<bool>();
  }

 private:
  const json& obj_;
  std::string path_;
};

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

Result<std::vector<std::string>> read_scopes(const Fields& f) {
  auto v = f.get("scopes");
  if (!v) return v.error();
  const std::string path = f.at("scopes");
  if (!(*v)->is_array() || (*v)->empty()) {
    return bad_field(path, tr("consent.code.file.want_scopes"));
  }
  std::vector<std::string> scopes;
  for (const auto& s : **v) {
    if (!s.is_string() || !is_scope(s.get<std::string>())) {
      return bad_field(path, tr("consent.code.file.want_scopes"));
    }
    scopes.push_back(s.get<std::string>());
  }
  auto canonical = canonical_scopes(scopes);
  if (!canonical || *canonical != scopes) {
    return bad_field(path, tr("consent.code.file.want_scopes"));
  }
  return canonical;
}

Result<CodeEntry> read_entry(const json& j, const std::string& path) {
  const Fields f(j, path);
  if (auto r = f.only({"hash", "scopes", "minutes", "engineer", "issued_at", "expires_at",
                       "expires_boot_ns", "used", "used_by"});
      !r) {
    return r.error();
  }
  CodeEntry e;
  auto hash = f.hex("hash", kHashBytes * 2);
  auto scopes = hash ? read_scopes(f) : Result<std::vector<std::string>>(hash.error());
  if (!scopes) return scopes.error();
  auto minutes = f.integer("minutes", 1, kMaxCodeMinutes);
  if (!minutes) return minutes.error();
  auto engineer = f.string("engineer");
  if (!engineer) return engineer.error();
  if (!engineer->empty() && !is_engineer_ref(*engineer)) {
    return bad_field(f.at("engineer"), tr("consent.code.file.want_engineer"));
  }
  auto issued = f.ts("issued_at");
  auto expires_at = issued ? f.ts("expires_at") : issued;
  if (!expires_at) return expires_at.error();
  auto expires = f.integer("expires_boot_ns", 0, kInt64Max);
  if (!expires) return expires.error();
  auto used = f.boolean("used");
  if (!used) return used.error();
  auto used_by = f.string("used_by");
  if (!used_by) return used_by.error();
  if (*used ? !is_fingerprint(*used_by) : !used_by->empty()) {
    return bad_field(f.at("used_by"), tr("consent.code.file.want_used_by"));
  }
  e.hash = std::move(*hash);
  e.scopes = std::move(*scopes);
  e.minutes = static_cast<int>(*minutes);
  e.engineer = std::move(*engineer);
  e.issued_at = std::move(*issued);
  e.expires_at = std::move(*expires_at);
  e.expires = from_boot_ns(*expires);
  e.used = *used;
  e.used_by = std::move(*used_by);
  return e;
}

Result<std::vector<CodeEntry>> read_codes(const Fields& top) {
  auto list = top.get("codes");
  if (!list) return list.error();
  if (!(*list)->is_array()) return bad_field("codes", tr("consent.code.file.want_list"));
  if ((*list)->size() > kMaxCodes) {
    return bad_field("codes", tr("consent.code.file.too_many", kMaxCodes));
  }
  std::vector<CodeEntry> codes;
  std::set<std::string> prefixes;
  for (std::size_t i = 0; i < (*list)->size(); ++i) {
    const std::string path = "codes[" + std::to_string(i) + "]";
    auto e = read_entry((**list)[i], path);
    if (!e) return e.error();
    // Distinct actor prefixes, as issue() keeps them: a record names one code.
    if (!prefixes.insert(e->hash.substr(0, kActorHex)).second) {
      return bad_field(path + ".hash", tr("consent.code.file.duplicate"));
    }
    codes.push_back(std::move(*e));
  }
  return codes;
}

Result<std::map<std::string, CodeBook::Lockout, std::less<>>> read_lockouts(const Fields& top) {
  auto list = top.get("lockouts");
  if (!list) return list.error();
  if (!(*list)->is_array()) return bad_field("lockouts", tr("consent.code.file.want_list"));
  std::map<std::string, CodeBook::Lockout, std::less<>> out;
  for (std::size_t i = 0; i < (*list)->size(); ++i) {
    const Fields f((**list)[i], "lockouts[" + std::to_string(i) + "]");
    if (auto r = f.only({"fingerprint", "window_end_boot_ns", "failures"}); !r) return r.error();
    auto fingerprint = f.string("fingerprint");
    if (!fingerprint) return fingerprint.error();
    if (!is_fingerprint(*fingerprint)) {
      return bad_field(f.at("fingerprint"), tr("consent.code.file.want_fingerprint"));
    }
    auto end = f.integer("window_end_boot_ns", 0, kInt64Max);
    if (!end) return end.error();
    auto failures = f.integer("failures", 1, kMaxFailures);
    if (!failures) return failures.error();
    const CodeBook::Lockout lockout{from_boot_ns(*end), static_cast<int>(*failures)};
    if (!out.emplace(*fingerprint, lockout).second) {
      return bad_field(f.at("fingerprint"), tr("consent.code.file.duplicate"));
    }
  }
  return out;
}

Result<json> parse_strict(std::string_view text) {
  std::vector<std::set<std::string>> open;
  std::optional<std::string> duplicate;
  auto on_event = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open.emplace_back();
    if (event == json::parse_event_t::object_end && !open.empty()) open.pop_back();
    if (event == json::parse_event_t::key && !open.empty() && !duplicate &&
        !open.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  try {
    json doc = json::parse(text.begin(), text.end(), on_event);
    if (duplicate) return bad_field(*duplicate, tr("consent.code.file.duplicate"));
    return doc;
  } catch (const json::exception& e) {
    return make_error(tr("consent.code.file.bad_json", e.what()), "bad_state");
  }
}

}  // namespace

nlohmann::json CodeBook::to_json(std::string_view boot_id) const {
  json codes = json::array();
  for (const auto& e : codes_) {
    codes.push_back({{"hash", e.hash},
                     {"scopes", e.scopes},
                     {"minutes", e.minutes},
                     {"engineer", e.engineer},
                     {"issued_at", e.issued_at},
                     {"expires_at", e.expires_at},
                     {"expires_boot_ns", boot_ns(e.expires)},
                     {"used", e.used},
                     {"used_by", e.used_by}});
  }
  json lockouts = json::array();
  for (const auto& [fingerprint, l] : lockouts_) {
    lockouts.push_back({{"fingerprint", fingerprint},
                        {"window_end_boot_ns", boot_ns(l.window_end)},
                        {"failures", l.failures}});
  }
  const auto* salt = reinterpret_cast<const unsigned char*>(salt_.data());
  return {{"v", 1},
          {"kdf", kKdf},
          {"salt", hex_lower(salt, salt_.size())},
          {"boot_id", boot_id},
          {"codes", std::move(codes)},
          {"lockouts", std::move(lockouts)}};
}

Result<CodeBook> CodeBook::from_json(std::string_view text, std::string_view boot_id) {
  auto doc = parse_strict(text);
  if (!doc) return doc.error();
  const Fields top(*doc, "");
  if (auto r = top.only({"v", "kdf", "salt", "boot_id", "codes", "lockouts"}); !r) {
    return r.error();
  }
  if (auto v = top.integer("v", 1, 1); !v) return v.error();
  auto kdf = top.string("kdf");
  if (!kdf) return kdf.error();
  if (*kdf != kKdf) return bad_field("kdf", tr("consent.code.file.want_kdf", kKdf));
  auto salt = top.hex("salt", kSaltBytes * 2);
  if (!salt) return salt.error();
  auto saved_boot = top.string("boot_id");
  if (!saved_boot) return saved_boot.error();

  CodeBook book;
  for (std::size_t i = 0; i < kSaltBytes; ++i) {
    const auto nibble = [&](std::size_t k) { return kHexDigits.find((*salt)[k]); };
    book.salt_ += static_cast<char>(nibble(i * 2) << 4 | nibble(i * 2 + 1));
  }
  auto codes = read_codes(top);
  if (!codes) return codes.error();
  auto lockouts = read_lockouts(top);
  if (!lockouts) return lockouts.error();
  // Deadlines from another boot mean nothing now: start without them.
  if (*saved_boot == boot_id) {
    book.codes_ = std::move(*codes);
    book.lockouts_ = std::move(*lockouts);
  }
  return book;
}

}  // namespace rdiag::agent::consent
