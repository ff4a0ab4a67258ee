#include "agent/rpc_params.h"

#include <algorithm>

#include "common/i18n.h"
#include "common/jsonrpc.h"
#include "common/text_safety.h"

namespace rdiag::agent::rpcp {
namespace {

std::string join(std::initializer_list<std::string_view> words) {
  std::string out;
  for (auto w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

// Code points of valid UTF-8 text: every byte that does not continue a sequence.
std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

bool ascii_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

json ok(json result) {
  return {{"result", std::move(result)}};
}

json error_body(int code, std::string_view reason, std::string message) {
  return {{"code", code}, {"reason", reason}, {"message", std::move(message)}};
}

json fail(int code, std::string_view reason, std::string message) {
  return {{"error", error_body(code, reason, std::move(message))}};
}

json invalid(std::string message) {
  return error_body(rpc::kInvalidParams, "invalid_params", std::move(message));
}

// Text the caller sent, cut short and made valid for quoting back in a message.
std::string echoed(std::string_view text) {
  constexpr std::size_t kMax = 64;
  if (text.size() <= kMax) return sanitize_utf8(text);
  return sanitize_utf8(text.substr(0, kMax)) + "...";
}

// nullopt when params is an object with only allowed keys, else the error.
std::optional<json> check_keys(const json& params,
                               std::initializer_list<std::string_view> allowed) {
  if (!params.is_object()) return invalid(i18n::tr("agent.rpc.params_not_object", join(allowed)));
  for (const auto& item : params.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      return invalid(i18n::tr("agent.rpc.param_unknown", echoed(item.key()), join(allowed)));
    }
  }
  return std::nullopt;
}

// ^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$
bool valid_ticket(std::string_view t) {
  if (t.empty() || t.size() > kMaxTicket || !ascii_alnum(t[0])) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return ascii_alnum(c) || c == '.' || c == '_' || c == '/' || c == '-';
  });
}

// A whole number in [min, max], or nullopt.
std::optional<std::int64_t> integer_in(const json& v, std::int64_t min, std::int64_t max) {
  if (!v.is_number_integer()) return std::nullopt;
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
    return std::nullopt;
  }
  const auto n = v.get<std::int64_t>();
  if (n < min || n > max) return std::nullopt;
  return n;
}

std::optional<json> check_reason(const json& v) {
  if (!v.is_string()) return invalid(i18n::tr("agent.rpc.reason_invalid", kMaxReasonChars));
  const auto& s = v.get_ref<const std::string&>();
  // The JSON-RPC framing already refuses bad UTF-8; this keeps the rule true
  // whatever the transport becomes.
  if (first_invalid_utf8(s)) return invalid(i18n::tr("agent.rpc.reason_not_utf8"));
  const std::size_t n = code_points(s);
  if (n == 0 || blank(s)) return invalid(i18n::tr("agent.rpc.reason_empty", kMaxReasonChars));
  if (n > kMaxReasonChars)
    return invalid(i18n::tr("agent.rpc.reason_too_long", kMaxReasonChars, n));
  return std::nullopt;
}

std::optional<json> check_scopes(const json& v, std::vector<std::string>* out) {
  if (!v.is_array() || v.empty()) return invalid(i18n::tr("agent.rpc.scopes_invalid"));
  for (const auto& s : v) {
    if (!s.is_string()) return invalid(i18n::tr("agent.rpc.scopes_invalid"));
    const auto& name = s.get_ref<const std::string&>();
    if (std::find(kScopes.begin(), kScopes.end(), name) == kScopes.end()) {
      return invalid(i18n::tr("agent.rpc.scope_unknown", echoed(name)));
    }
    if (std::find(out->begin(), out->end(), name) != out->end()) {
      return invalid(i18n::tr("agent.rpc.scope_repeated", name));
    }
    out->push_back(name);
  }
  return std::nullopt;
}

json failed(json body) {
  return {{"error", std::move(body)}};
}

std::optional<json> check_required(const json& params,
                                   std::initializer_list<std::string_view> required) {
  for (auto key : required) {
    if (!params.contains(key)) {
      return invalid(i18n::tr("agent.rpc.param_missing", std::string(key)));
    }
  }
  return std::nullopt;
}

std::optional<json> check_text(const json& v, std::string_view field, std::size_t max_bytes) {
  if (!v.is_string() || blank(v.get_ref<const std::string&>()) ||
      v.get_ref<const std::string&>().size() > max_bytes) {
    return invalid(i18n::tr("agent.rpc.text_invalid", std::string(field), max_bytes));
  }
  if (first_invalid_utf8(v.get_ref<const std::string&>())) {
    return invalid(i18n::tr("agent.rpc.text_invalid", std::string(field), max_bytes));
  }
  return std::nullopt;
}

std::optional<json> check_minutes(const json& v, std::int64_t* out) {
  auto minutes = integer_in(v, 1, kMaxMinutes);
  if (!minutes) return invalid(i18n::tr("agent.rpc.minutes_invalid", kMaxMinutes));
  *out = *minutes;
  return std::nullopt;
}

}  // namespace rdiag::agent::rpcp
