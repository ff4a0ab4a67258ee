#include "agent/consent/policy.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <string_view>

#include "common/config.h"
#include "common/i18n.h"
#include "common/records/event.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

using json = nlohmann::json;
using i18n::tr;
using Keys = std::span<const std::string_view>;

constexpr std::string_view kPolicyKeys[] = {"auto_approve", "max_grant_minutes", "escalation_joins",
                                            "share_recordings", "keep_transfers"};
constexpr std::string_view kRuleKeys[] = {"name", "scopes", "days", "hours", "roles"};
constexpr std::string_view kScopes[] = {"diagnose", "shell", "transfer", "fix"};
constexpr std::string_view kRoles[] = {"engineer", "senior", "dba"};
constexpr std::string_view kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr int kMinutesPerDay = 24 * 60;
// A grant longer than a day is a standing door, not a visit: ask again.
constexpr int kMaxGrantMinutes = kMinutesPerDay;
// Values quoted back in messages are cut: a message is a sentence, not a dump.
constexpr std::size_t kShownChars = 80;

struct Window {
  int start = 0;
  int end = 0;
};

std::string join(Keys keys) {
  std::string out;
  for (std::string_view k : keys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

bool one_of(Keys set, std::string_view word) {
  return std::find(set.begin(), set.end(), word) != set.end();
}

std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() <= kShownChars ? s : s.substr(0, kShownChars) + "...";
}

std::string at(const std::string& path, std::size_t i) {
  return fmt::format("{}[{}]", path, i);
}

Error type_error(const std::string& file, const std::string& path, const std::string& expected) {
  return make_error(tr("common.config.type", file, path, expected), "config_type");
}

Result<void> check_keys(const std::string& file, const json& obj, Keys known,
                        const std::string& path) {
  for (const auto& [key, value] : obj.items()) {
    if (!one_of(known, key)) {
      return make_error(
          tr("common.config.unknown_key", file, fmt::format("{}.{}", path, key), join(known)),
          "config_unknown_key");
    }
  }
  return {};
}

// Three-letter English day names, in any case.
std::optional<std::size_t> day_index(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch; });
  const auto* it = std::find(std::begin(kDayNames), std::end(kDayNames), lower);
  if (it == std::end(kDayNames)) return std::nullopt;
  return static_cast<std::size_t>(it - std::begin(kDayNames));
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// "Mon-Fri", "Sat,Sun", "Mon-Wed,Fri"; a range may wrap past Sunday ("Fri-Mon").
std::optional<std::array<bool, 7>> parse_days(std::string_view text) {
  std::array<bool, 7> days{};
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t comma = std::min(text.find(',', begin), text.size());
    const std::string_view item = trimmed(text.substr(begin, comma - begin));
    const std::size_t dash = item.find('-');
    const auto first = day_index(trimmed(item.substr(0, dash)));
    const auto last =
        dash == std::string_view::npos ? first : day_index(trimmed(item.substr(dash + 1)));
    if (!first || !last) return std::nullopt;
    for (std::size_t d = *first;; d = (d + 1) % 7) {
      days.at(d) = true;
      if (d == *last) break;
    }
    begin = comma + 1;
  }
  return days;
}

// "HH:MM" as minutes after midnight; "24:00" only as an end.
std::optional<int> clock_minutes(std::string_view hhmm, bool is_end) {
  if (hhmm.size() != 5 || hhmm[2] != ':') return std::nullopt;
  for (std::size_t i : {0U, 1U, 3U, 4U}) {
    if (hhmm[i] < '0' || hhmm[i] > '9') return std::nullopt;
  }
  const int h = (hhmm[0] - '0') * 10 + (hhmm[1] - '0');
  const int m = (hhmm[3] - '0') * 10 + (hhmm[4] - '0');
  if (is_end && h == 24 && m == 0) return kMinutesPerDay;
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

std::optional<Window> parse_hours(std::string_view text) {
  if (text.size() != 11 || text[5] != '-') return std::nullopt;
  const auto start = clock_minutes(text.substr(0, 5), false);
  const auto end = clock_minutes(text.substr(6), true);
  if (!start || !end) return std::nullopt;
  return Window{*start, *end};
}

// A non-empty list of words from `allowed` (scopes, roles).
Result<std::vector<std::string>> read_words(const std::string& file, const json& v,
                                            const std::string& path, Keys allowed) {
  if (!v.is_array() || v.empty()) {
    return make_error(tr("consent.policy.word_list", file, path, join(allowed)), "config_type");
  }
  std::vector<std::string> words;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string() || !one_of(allowed, v[i].get_ref<const std::string&>())) {
      return make_error(
          tr("consent.policy.bad_word", file, at(path, i), shown(v[i]), join(allowed)),
          "config_value");
    }
    words.push_back(v[i].get<std::string>());
  }
  return words;
}

Result<void> read_name(const std::string& file, const json& v, const std::string& path,
                       AutoApproveRule& rule) {
  // The name is recorded as the actor policy:<name>, so the records' own
  // grammar decides what is a valid name.
  if (!v.is_string() || !records::is_valid_actor("policy:" + v.get<std::string>())) {
    return make_error(tr("consent.policy.bad_name", file, path, shown(v)), "config_value");
  }
  rule.name = v.get<std::string>();
  return {};
}

Result<void> read_days(const std::string& file, const json& v, const std::string& path,
                       AutoApproveRule& rule) {
  auto days = v.is_string() ? parse_days(v.get_ref<const std::string&>()) : std::nullopt;
  if (!days) return make_error(tr("consent.policy.bad_days", file, path, shown(v)), "config_value");
  rule.days = *days;
  return {};
}

Result<void> read_hours(const std::string& file, const json& v, const std::string& path,
                        AutoApproveRule& rule) {
  auto window = v.is_string() ? parse_hours(v.get_ref<const std::string&>()) : std::nullopt;
  if (!window) {
    return make_error(tr("consent.policy.bad_hours", file, path, shown(v)), "config_value");
  }
  // 08:00-08:00 could mean nothing or the whole day: make the writer say which.
  if (window->start == window->end) {
    return make_error(tr("consent.policy.empty_hours", file, path, shown(v)), "config_value");
  }
  rule.start_minute = window->start;
  rule.end_minute = window->end;
  return {};
}

Result<AutoApproveRule> read_rule(const std::string& file, const json& v, const std::string& path) {
  if (!v.is_object()) return type_error(file, path, tr("common.config.an_object"));
  if (auto r = check_keys(file, v, kRuleKeys, path); !r) return r.error();
  for (std::string_view key : kRuleKeys) {
    if (!v.contains(key)) {
      return make_error(tr("consent.policy.missing", file, path + "." + std::string(key)),
                        "config_missing_key");
    }
  }
  AutoApproveRule rule;
  if (auto r = read_name(file, v.at("name"), path + ".name", rule); !r) return r.error();
  auto scopes = read_words(file, v.at("scopes"), path + ".scopes", kScopes);
  if (!scopes) return scopes.error();
  rule.scopes = std::move(*scopes);
  if (auto r = read_days(file, v.at("days"), path + ".days", rule); !r) return r.error();
  if (auto r = read_hours(file, v.at("hours"), path + ".hours", rule); !r) return r.error();
  auto roles = read_words(file, v.at("roles"), path + ".roles", kRoles);
  if (!roles) return roles.error();
  rule.roles = std::move(*roles);
  return rule;
}

Result<void> read_rules(const std::string& file, const json& section, Policy& out) {
  auto it = section.find("auto_approve");
  if (it == section.end()) return {};
  const std::string path = "policy.auto_approve";
  if (!it->is_array()) return type_error(file, path, tr("common.config.a_list"));
  std::map<std::string, std::size_t> first_use;
  for (std::size_t i = 0; i < it->size(); ++i) {
    auto rule = read_rule(file, (*it)[i], at(path, i));
    if (!rule) return rule.error();
    auto [prev, fresh] = first_use.emplace(rule->name, i);
    if (!fresh) {
      return make_error(tr("consent.policy.duplicate_name", file, at(path, i) + ".name", rule->name,
                           at(path, prev->second)),
                        "config_value");
    }
    out.auto_approve.push_back(std::move(*rule));
  }
  return {};
}

Result<void> read_max_minutes(const std::string& file, const json& section, Policy& out) {
  auto it = section.find("max_grant_minutes");
  if (it == section.end()) return {};
  const std::string path = "policy.max_grant_minutes";
  if (!it->is_number_integer()) {
    return type_error(file, path, tr("common.config.a_number", 1, kMaxGrantMinutes));
  }
  const bool huge =
      it->is_number_unsigned() && it->get<std::uint64_t>() > std::uint64_t{kMaxGrantMinutes};
  const std::int64_t n = huge ? std::int64_t{kMaxGrantMinutes} + 1 : it->get<std::int64_t>();
  if (n < 1 || n > kMaxGrantMinutes) {
    return make_error(tr("common.config.range", file, path, 1, kMaxGrantMinutes, shown(*it)),
                      "config_value");
  }
  out.max_grant_minutes = static_cast<int>(n);
  return {};
}

Result<void> read_flags(const std::string& file, const json& section, Policy& out) {
  for (auto [key, field] : {std::pair{"escalation_joins", &out.escalation_joins},
                            {"share_recordings", &out.share_recordings},
                            {"keep_transfers", &out.keep_transfers}}) {
    auto it = section.find(key);
    if (it == section.end()) continue;
    if (!it->is_boolean()) {
      return type_error(file, std::string("policy.") + key, tr("consent.policy.a_boolean"));
    }
    *field = it->get<bool>();
  }
  return {};
}

Result<Policy> read_policy(const json& section, const std::string& file) {
  Policy policy;
  if (section.is_null()) return policy;
  if (!section.is_object()) return type_error(file, "policy", tr("common.config.an_object"));
  if (auto r = check_keys(file, section, kPolicyKeys, "policy"); !r) return r.error();
  if (auto r = read_rules(file, section, policy); !r) return r.error();
  if (auto r = read_max_minutes(file, section, policy); !r) return r.error();
  if (auto r = read_flags(file, section, policy); !r) return r.error();
  return policy;
}

bool in_window(const AutoApproveRule& rule, const std::tm& t) {
  if (t.tm_wday < 0 || t.tm_wday > 6 || t.tm_hour < 0 || t.tm_hour > 23 || t.tm_min < 0 ||
      t.tm_min > 59) {
    return false;
  }
  const int now = t.tm_hour * 60 + t.tm_min;
  const auto today = static_cast<std::size_t>(t.tm_wday);
  if (rule.start_minute < rule.end_minute) {
    return rule.days.at(today) && now >= rule.start_minute && now < rule.end_minute;
  }
  // Across midnight: the small hours belong to the previous day's window.
  const std::size_t yesterday = (today + 6) % 7;
  return (rule.days.at(today) && now >= rule.start_minute) ||
         (rule.days.at(yesterday) && now < rule.end_minute);
}

bool covers(const std::vector<std::string>& have, const std::vector<std::string>& wanted) {
  return std::all_of(wanted.begin(), wanted.end(), [&have](const std::string& w) {
    return std::find(have.begin(), have.end(), w) != have.end();
  });
}

}  // namespace

Result<Policy> parse_policy(const nlohmann::json& policy_or_null, const std::string& file) {
  Result<Policy> result = make_error("", "internal");
  try {
    result = read_policy(policy_or_null, file);
  } catch (const std::exception& e) {
    // Only a bug of ours can get here (every type is checked before get<>()).
    result = make_error(tr("common.config.internal", file, e.what()), "internal");
  }
  if (result) return result;
  // Messages quote the file's text; it must not drive a terminal.
  return make_error(terminal_safe(result.error().message), result.error().reason);
}

Result<Policy> policy_from_config(const AgentConfig& cfg) {
  auto it = cfg.raw.find("policy");  // end() when raw is not an object
  return parse_policy(it == cfg.raw.end() ? json() : *it, cfg.source);
}

std::optional<std::string> match_auto_approve(const Policy& policy,
                                              const std::vector<std::string>& scopes,
                                              const std::string& role, const std::tm& local_time) {
  if (scopes.empty()) return std::nullopt;
  for (const AutoApproveRule& rule : policy.auto_approve) {
    const bool role_listed =
        std::find(rule.roles.begin(), rule.roles.end(), role) != rule.roles.end();
    if (role_listed && covers(rule.scopes, scopes) && in_window(rule, local_time)) {
      return rule.name;
    }
  }
  return std::nullopt;
}

int clamp_minutes(const Policy& policy, int requested) {
  return std::clamp(requested, 1, std::max(1, policy.max_grant_minutes));
}

}  // namespace rdiag::agent
