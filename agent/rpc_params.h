// Building blocks of the monitor's JSON-RPC methods (agent/rpc.cpp and the
// consent flow): answer bodies and the parameter rules of DESIGN.md
// ("Requests, grants, approval"), each failing with an invalid_params body
// whose message names the field and the rule.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rdiag::agent::rpcp {

using json = nlohmann::json;

inline constexpr std::array<std::string_view, 4> kScopes = {"diagnose", "shell", "transfer", "fix"};
inline constexpr std::size_t kMaxTicket = 64;
inline constexpr std::size_t kMaxReasonChars = 500;
inline constexpr std::size_t kMaxNoteBytes = 4096;
// What a request may ask for; policy.max_grant_minutes bounds what it gets.
inline constexpr std::int64_t kMaxMinutes = 1440;

json ok(json result);
json error_body(int code, std::string_view reason, std::string message);
json fail(int code, std::string_view reason, std::string message);
// {"error": body}
json failed(json body);
json invalid(std::string message);

// Text the caller sent, cut short and made valid for quoting back in a message.
std::string echoed(std::string_view text);

// nullopt when params is an object with only allowed keys, else the error body.
std::optional<json> check_keys(const json& params, std::initializer_list<std::string_view> allowed);
// The error body when a required key is missing.
std::optional<json> check_required(const json& params,
                                   std::initializer_list<std::string_view> required);

bool ascii_alnum(char c);
// ^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$
bool valid_ticket(std::string_view t);
// A whole number in [min, max], or nullopt.
std::optional<std::int64_t> integer_in(const json& v, std::int64_t min, std::int64_t max);
// reason: 1..500 code points of non-blank UTF-8.
std::optional<json> check_reason(const json& v);
// Free text `field` of 1..max_bytes bytes, not blank (notes, cause, solution).
std::optional<json> check_text(const json& v, std::string_view field, std::size_t max_bytes);
// A non-empty list of known scopes, each once; appended to *out in the given order.
std::optional<json> check_scopes(const json& v, std::vector<std::string>* out);
// minutes in 1..kMaxMinutes.
std::optional<json> check_minutes(const json& v, std::int64_t* out);

}  // namespace rdiag::agent::rpcp
