// The `policy` section of the agent configuration (DESIGN.md "Agent
// configuration" and "Requests, grants, approval"): named auto-approval
// rules, off by default, and the bounds on what any approval may give.
// Pure code: the caller passes the local time, so tests can pin it.
#pragma once

#include <array>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace rdiag {
struct AgentConfig;
}

namespace rdiag::agent {

// One rule of policy.auto_approve. Its name becomes the actor
// `policy:<name>` of the request.approved event it causes.
struct AutoApproveRule {
  std::string name;                 // [A-Za-z0-9._-]{1,64}, unique in the file
  std::vector<std::string> scopes;  // non-empty subset of diagnose, shell, transfer, fix
  std::vector<std::string> roles;   // non-empty subset of engineer, senior, dba
  std::array<bool, 7> days{};       // indexed like std::tm::tm_wday: 0 = Sunday
  // Minutes after local midnight; the start is inside the window, the end is
  // not (08:00-18:00 takes 17:59 and refuses 18:00). 24:00 is written 1440.
  // An end before the start crosses midnight, and the hours after midnight
  // belong to the day the window started on: days "Fri" with 22:00-06:00
  // covers Friday 22:00 to Saturday 06:00, and Friday 00:00-06:00 is not in it
  // (that is Thursday's night).
  int start_minute = 0;
  int end_minute = 0;
};

struct Policy {
  std::vector<AutoApproveRule> auto_approve;  // empty: auto-approval is off
  int max_grant_minutes = 240;                // 1..1440; every grant is clamped to it
  bool escalation_joins = false;              // true: session.join needs no approval
  bool share_recordings = false;              // true: record.get returns cast contents
  bool keep_transfers = false;                // true: transfer_dir is kept at close
};

// Parses the `policy` object; null (the section is absent) gives the
// defaults. `file` names the configuration file in messages, which name the
// key path (policy.auto_approve[1].hours) and the fix. Reasons as in
// common/config.h: config_type, config_value, config_unknown_key,
// config_missing_key.
Result<Policy> parse_policy(const nlohmann::json& policy_or_null, const std::string& file);

// parse_policy on cfg.raw["policy"], naming cfg.source.
Result<Policy> policy_from_config(const AgentConfig& cfg);

// The name of the first rule, in file order, that lists every requested
// scope and the role and whose days and hours hold local_time (tm_wday,
// tm_hour and tm_min are read, as localtime_r fills them). No scopes, an
// unknown role or an out-of-range time never match: the request then waits
// for a person.
std::optional<std::string> match_auto_approve(const Policy& policy,
                                              const std::vector<std::string>& scopes,
                                              const std::string& role, const std::tm& local_time);

// requested, brought into 1..max_grant_minutes.
int clamp_minutes(const Policy& policy, int requested);

}  // namespace rdiag::agent
