#include "common/records/event.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "common/text_safety.h"

namespace rdiag::records {
namespace {

using nlohmann::json;

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// DESIGN.md "Service records", in its order. Extending it is a format change:
// old verifiers must refuse what they cannot vouch for.
// clang-format off
constexpr std::array<std::string_view, 32> kEventTypes = {
    "request.created", "request.approved", "request.denied", "request.expired", "code.rejected",
    "notify.failed", "session.connected", "session.disconnected", "session.joined",
    "session.extended", "diag.run", "logs.scan", "logs.tail", "bundle.created", "file.read",
    "shell.opened", "shell.closed", "exec", "file.uploaded", "file.downloaded", "fix.run", "note",
    "escalated", "grant.revoked", "grant.expired", "session.closed", "customer.confirmed",
    "customer.disputed", "rating", "checkpoint", "record.repaired", "session.interrupted"
};
// clang-format on

constexpr std::array<std::string_view, 8> kLineKeys = {"actor", "data", "hash", "prev",
                                                       "seq",   "ts",   "type", "v"};

Error fail(std::string reason, std::string message) {
  return make_error(std::move(message), std::move(reason));
}

// Text from the line goes into messages that end up on terminals.
std::string shown(std::string_view untrusted, std::size_t max_bytes = 80) {
  std::string s = terminal_safe(untrusted.substr(0, max_bytes));
  if (untrusted.size() > max_bytes) s += "...";
  return s;
}

constexpr std::string_view kLowerHex = "0123456789abcdef";
constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kRuleChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
constexpr std::string_view kUserChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-@";

bool only(std::string_view s, std::string_view allowed) {
  return s.find_first_not_of(allowed) == std::string_view::npos;
}

std::optional<std::string_view> after(std::string_view s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return std::nullopt;
  return s.substr(prefix.size());
}

// 32 bytes in unpadded base64 is 43 characters whose last one carries two
// zero bits. Requiring those zero bits gives each key exactly one spelling,
// so one engineer cannot appear under two actor strings.
bool is_fingerprint_b64(std::string_view s) {
  constexpr std::string_view kLastChars = "AEIMQUYcgkosw048";
  return s.size() == 43 && only(s, kBase64) && kLastChars.find(s.back()) != std::string_view::npos;
}

// Wider than POSIX's portable [a-z_][a-z0-9_.-]{0,31}: SSSD and winbind give
// customer IT accounts such as "Zhang.Wei@corp.example", and an approval that
// cannot be recorded would be refused. Still no ':', spaces or controls.
bool is_user_name(std::string_view s) {
  return !s.empty() && s.size() <= 128 && s.front() != '-' && s.front() != '.' &&
         only(s, kUserChars);
}

bool is_rule_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && only(s, kRuleChars);
}

bool is_code_prefix(std::string_view s) {
  return s.size() >= 8 && s.size() <= 16 && only(s, kLowerHex);
}

std::string canonical_dump(const json& value) {
  // replace, not strict: a string that slipped past sanitizing must not make
  // hashing throw; check_event refuses such an event before it is written.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json event_json(const Event& e, bool with_hash) {
  json j = {{"v", e.v},         {"seq", e.seq},   {"ts", e.ts},    {"type", e.type},
            {"actor", e.actor}, {"data", e.data}, {"prev", e.prev}};
  if (with_hash) j["hash"] = e.hash;
  return j;
}

bool is_int64(const json& j) {
  return j.is_number_integer() && (!j.is_number_unsigned() ||
                                   j.get<std::uint64_t>() <= static_cast<std::uint64_t>(kInt64Max));
}

std::string kind_of(const json& j) {
  if (j.is_number_float()) return fmt::format("a float ({})", canonical_dump(j));
  if (j.is_number_unsigned()) return fmt::format("an integer past int64 ({})", canonical_dump(j));
  return fmt::format("{} ({})", j.type_name(), shown(canonical_dump(j)));
}

Result<void> check_value(const json& value, const std::string& path, int depth);

Result<void> check_container(const json& value, const std::string& path, int depth) {
  if (depth > kMaxDataDepth) {
    return fail("bad_data", fmt::format("{} nests deeper than {} levels", path, kMaxDataDepth));
  }
  std::size_t index = 0;
  for (auto it = value.begin(); it != value.end(); ++it, ++index) {
    std::string child;
    if (value.is_object()) {
      if (first_invalid_utf8(it.key())) {
        return fail("bad_data", fmt::format("a key in {} is not valid UTF-8", path));
      }
      child = path + "." + shown(it.key());
    } else {
      child = fmt::format("{}[{}]", path, index);
    }
    if (auto r = check_value(it.value(), child, depth + 1); !r) return r;
  }
  return {};
}

Result<void> check_value(const json& value, const std::string& path, int depth) {
  if (value.is_object() || value.is_array()) return check_container(value, path, depth);
  if (value.is_string()) {
    if (!first_invalid_utf8(value.get_ref<const std::string&>())) return {};
    return fail("bad_data", fmt::format("{} is not valid UTF-8 (sanitize_strings first)", path));
  }
  if (value.is_boolean() || is_int64(value)) return {};
  return fail("bad_data", fmt::format("{} is {}; events hold only strings, int64 integers, "
                                      "booleans, objects and arrays",
                                      path, kind_of(value)));
}

std::string unique_key(const json& object, std::string key) {
  if (!object.contains(key)) return key;
  for (int n = 2;; ++n) {
    std::string candidate = fmt::format("{}#{}", key, n);
    if (!object.contains(candidate)) return candidate;
  }
}

json sanitize_value(json value, int depth) {
  if (value.is_string()) {
    auto& s = value.get_ref<std::string&>();
    if (first_invalid_utf8(s)) s = sanitize_utf8(s);
    return value;
  }
  // Past the limit check_event_data refuses the event anyway; stopping here
  // keeps a runaway structure from exhausting the stack first.
  if (depth > kMaxDataDepth) return value;
  if (value.is_array()) {
    for (auto& item : value) item = sanitize_value(std::move(item), depth + 1);
    return value;
  }
  if (!value.is_object()) return value;
  json out = json::object();
  for (auto it = value.begin(); it != value.end(); ++it) {
    std::string key = first_invalid_utf8(it.key()) ? sanitize_utf8(it.key()) : it.key();
    key = unique_key(out, std::move(key));
    out[key] = sanitize_value(std::move(it.value()), depth + 1);
  }
  return out;
}

// nlohmann keeps the last of two equal keys without a word, so the parse
// callback counts key events per object and compares the count with the
// object it built (cheap: no copy of each key). It also stops building
// containers nested too deep, because dump() and our own checks recurse.
struct StrictParseState {
  std::vector<std::size_t> key_counts;  // one per open object
  bool duplicate = false;
  bool too_deep = false;
};

bool on_parse_event(StrictParseState& st, int depth, json::parse_event_t event, json& parsed) {
  using E = json::parse_event_t;
  if (st.too_deep) return false;  // rejected anyway; build nothing more
  const bool opens = event == E::object_start || event == E::array_start;
  if (opens && depth > kMaxDataDepth) {
    st.too_deep = true;
    return false;
  }
  if (event == E::object_start) st.key_counts.push_back(0);
  if (event == E::key) ++st.key_counts.back();
  if (event == E::object_end) {
    st.duplicate = st.duplicate || st.key_counts.back() != parsed.size();
    st.key_counts.pop_back();
  }
  return true;
}

// Only on the failure path: which key it was, for the message.
std::string duplicated_key(std::string_view line) {
  std::vector<std::set<std::string>> open;
  std::string found;
  const json::parser_callback_t find = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open.emplace_back();
    if (event == json::parse_event_t::object_end) open.pop_back();
    if (event == json::parse_event_t::key && found.empty() &&
        !open.back().insert(parsed.get<std::string>()).second) {
      found = parsed.get<std::string>();
    }
    return true;
  };
  [[maybe_unused]] const json doc = json::parse(line.begin(), line.end(), find, false);
  return found;
}

// nlohmann's what() is "[json.exception.parse_error.101] parse error at line
// 1, column 31: detail"; only the detail is worth repeating.
std::string json_detail(const json::exception& e) {
  std::string_view d = e.what();
  if (const auto p = d.find("] "); p != std::string_view::npos) d.remove_prefix(p + 2);
  if (d.starts_with("parse error") && d.find(": ") != std::string_view::npos) {
    d.remove_prefix(d.find(": ") + 2);
  }
  return shown(d, 200);
}

Result<json> parse_strict(std::string_view line) {
  if (line.empty()) return fail("malformed", "the line is empty");
  StrictParseState st;
  try {
    json doc = json::parse(line.begin(), line.end(), [&st](int d, json::parse_event_t e, json& p) {
      return on_parse_event(st, d, e, p);
    });
    if (st.too_deep) {
      return fail("bad_data", fmt::format("data nests deeper than {} levels", kMaxDataDepth));
    }
    if (st.duplicate) {
      return fail("duplicate_key", fmt::format("key \"{}\" appears twice in one object",
                                               shown(duplicated_key(line))));
    }
    return doc;
  } catch (const json::parse_error& e) {
    return fail("malformed", fmt::format("not valid JSON at byte {}: {}", e.byte, json_detail(e)));
  } catch (const json::exception& e) {
    return fail("malformed", fmt::format("not valid JSON: {}", json_detail(e)));
  }
}

Result<void> check_shape(const json& doc) {
  if (!doc.is_object()) return fail("malformed", "the line is not a JSON object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (std::find(kLineKeys.begin(), kLineKeys.end(), it.key()) == kLineKeys.end()) {
      return fail("malformed", fmt::format("unexpected key \"{}\"", shown(it.key())));
    }
  }
  for (std::string_view key : kLineKeys) {
    const auto it = doc.find(key);
    if (it == doc.end()) return fail("malformed", fmt::format("missing key \"{}\"", key));
    const bool number = key == "v" || key == "seq";
    const bool ok = number ? is_int64(*it) : key == "data" ? it->is_object() : it->is_string();
    if (!ok) {
      const char* want = number ? "an int64 integer" : key == "data" ? "an object" : "a string";
      return fail("malformed", fmt::format("\"{}\" must be {}, not {}", key, want, kind_of(*it)));
    }
  }
  return {};
}

// Everything but data, which stays in the parsed document until the end so
// the canonical comparison can dump the document as parsed.
Event header_from(const json& doc) {
  Event e;
  e.v = doc.at("v").get<std::int64_t>();
  e.seq = doc.at("seq").get<std::int64_t>();
  e.ts = doc.at("ts").get<std::string>();
  e.type = doc.at("type").get<std::string>();
  e.actor = doc.at("actor").get<std::string>();
  e.prev = doc.at("prev").get<std::string>();
  e.hash = doc.at("hash").get<std::string>();
  return e;
}

Result<void> check_header(const Event& e, TypePredicate known_type) {
  if (e.v != kEventVersion) {
    return fail("unsupported_version",
                fmt::format("v is {}; this verifier knows only v {}", e.v, kEventVersion));
  }
  if (e.seq < 1) return fail("malformed", fmt::format("seq is {}; it starts at 1", e.seq));
  if (!known_type(e.type)) {
    return fail("unknown_type",
                fmt::format("type \"{}\" is not in the closed list", shown(e.type)));
  }
  if (!is_valid_actor(e.actor)) {
    return fail("bad_actor", fmt::format("actor \"{}\" is not engineer:SHA256:<fp>, "
                                         "customer:<user>, policy:<rule>, code:<hex> or agent",
                                         shown(e.actor)));
  }
  if (!is_valid_ts(e.ts)) {
    return fail("malformed", fmt::format("ts \"{}\" is not YYYY-MM-DDTHH:MM:SS.mmmZ", shown(e.ts)));
  }
  if (!is_hex_digest(e.prev)) return fail("malformed", "prev is not 64 lower-case hex digits");
  if (!is_hex_digest(e.hash)) return fail("malformed", "hash is not 64 lower-case hex digits");
  return {};
}

Error not_canonical(std::string_view line, std::string_view canonical) {
  const auto diff = std::mismatch(line.begin(), line.end(), canonical.begin(), canonical.end());
  const auto at = static_cast<std::size_t>(diff.first - line.begin());
  return fail("not_canonical",
              fmt::format("the line differs from its canonical form at byte {}: \"{}\" where "
                          "the canonical form has \"{}\" (an escape, space, key order or "
                          "number spelled differently)",
                          at + 1, shown(line.substr(at, 12)), shown(canonical.substr(at, 12))));
}

// For a line already known to be canonical, canonical_without_hash without a
// second dump: drop the top-level "hash":"<64 hex>", member. A raw `,"hash":"`
// can only be a key named hash followed by a string; after the top-level one
// come only prev, seq, ts, type and v, so the last occurrence is that one.
std::string without_hash_member(std::string_view line) {
  constexpr std::size_t kMember = std::string_view(R"("hash":"",)").size() + 64;
  const std::size_t comma = line.rfind(R"(,"hash":")");
  if (comma == std::string_view::npos || line.size() - comma < kMember + 1) return {};
  const std::size_t start = comma + 1;
  std::string out(line.substr(0, start));
  out.append(line.substr(start + kMember));
  return out;
}

}  // namespace

std::span<const std::string_view> known_event_types() {
  return kEventTypes;
}

bool is_known_event_type(std::string_view type) {
  return std::find(kEventTypes.begin(), kEventTypes.end(), type) != kEventTypes.end();
}

bool is_valid_actor(std::string_view actor) {
  if (actor == "agent") return true;
  if (auto fp = after(actor, "engineer:SHA256:")) return is_fingerprint_b64(*fp);
  if (auto user = after(actor, "customer:")) return is_user_name(*user);
  if (auto rule = after(actor, "policy:")) return is_rule_name(*rule);
  if (auto code = after(actor, "code:")) return is_code_prefix(*code);
  return false;
}

bool is_hex_digest(std::string_view s) {
  return s.size() == 64 && only(s, kLowerHex);
}

Result<void> check_event_data(const json& data) {
  if (!data.is_object()) {
    return fail("bad_data", fmt::format("data must be an object, not {}", kind_of(data)));
  }
  return check_value(data, "data", 1);
}

json sanitize_strings(json value) {
  return sanitize_value(std::move(value), 1);
}

std::string canonical_without_hash(const Event& event) {
  return canonical_dump(event_json(event, false));
}

std::string event_hash(const Event& event) {
  return sha256_hex(canonical_without_hash(event));
}

std::string event_line(const Event& event) {
  return canonical_dump(event_json(event, true));
}

Result<void> check_event(const Event& event, TypePredicate known_type) {
  if (auto r = check_header(event, known_type); !r) return r;
  if (auto r = check_event_data(event.data); !r) return r;
  if (const auto size = event_line(event).size(); size > kMaxLineBytes) {
    return fail("bad_data", fmt::format("the event is {} bytes, over the {} a line may hold", size,
                                        kMaxLineBytes));
  }
  if (event.hash != event_hash(event)) return fail("bad_hash", "hash is not the event's SHA-256");
  return {};
}

Result<Event> parse_event_line(std::string_view line, TypePredicate known_type) {
  if (line.size() > kMaxLineBytes) {
    return fail("malformed", fmt::format("the line is {} bytes, over the {} a writer produces",
                                         line.size(), kMaxLineBytes));
  }
  auto doc = parse_strict(line);
  if (!doc) return doc.error();
  if (auto r = check_shape(*doc); !r) return r.error();
  Event e = header_from(*doc);
  if (auto r = check_header(e, known_type); !r) return r.error();
  if (auto r = check_event_data(doc->at("data")); !r) return r.error();
  if (const std::string canonical = canonical_dump(*doc); canonical != line) {
    return not_canonical(line, canonical);
  }
  if (const std::string actual = sha256_hex(without_hash_member(line)); actual != e.hash) {
    return fail("bad_hash", fmt::format("hash is {} but the event hashes to {}", e.hash, actual));
  }
  e.data = std::move(doc->at("data"));
  return e;
}

}  // namespace rdiag::records
