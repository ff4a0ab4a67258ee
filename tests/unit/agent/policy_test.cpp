// The config's policy section: which requests an auto-approval rule takes,
// at which local times, and what a customer sees for every mistake in it.
#include "agent/consent/policy.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <ctime>
#include <iomanip>
#include <sstream>

#include "common/config.h"
#include "common/i18n.h"

namespace rdiag::agent {
namespace {

using nlohmann::json;

const std::string kFile = "/etc/rdiag/agent.json";

// A local date and time as localtime_r would give it ("2026-12-04 17:59" is
// a Friday); timegm/gmtime_r only fill in the weekday, no time zone involved.
std::tm when(const std::string& text) {
  std::tm t{};
  std::istringstream in(text);
  in >> std::get_time(&t, "%Y-%m-%d %H:%M");
  EXPECT_FALSE(in.fail()) << text;
  const std::time_t secs = timegm(&t);
  std::tm out{};
  gmtime_r(&secs, &out);
  return out;
}

json rule(const std::string& name, json scopes, const std::string& days, const std::string& hours,
          json roles) {
  return {{"name", name}, {"scopes", scopes}, {"days", days}, {"hours", hours}, {"roles", roles}};
}

json approve(std::vector<json> rules) {
  return {{"auto_approve", std::move(rules)}};
}

Policy parsed(const json& section) {
  auto p = parse_policy(section, kFile);
  EXPECT_TRUE(p) << p.error().message;
  return p ? *p : Policy{};
}

// DESIGN.md's example rule.
Policy weekday_diagnose() {
  return parsed(approve(
      {rule("weekday-diagnose", {"diagnose"}, "Mon-Fri", "08:00-18:00", {"engineer", "senior"})}));
}

std::optional<std::string> match(const Policy& p, const std::vector<std::string>& scopes,
                                 const std::string& role, const std::string& at) {
  return match_auto_approve(p, scopes, role, when(at));
}

TEST(Policy, AbsentSectionMeansNoAutoApprovalAndTheDefaults) {
  const Policy p = parsed(json());
  EXPECT_TRUE(p.auto_approve.empty());
  EXPECT_EQ(p.max_grant_minutes, 240);
  EXPECT_FALSE(p.escalation_joins);
  EXPECT_FALSE(p.share_recordings);
  EXPECT_FALSE(p.keep_transfers);
  EXPECT_EQ(match(p, {"diagnose"}, "senior", "2026-12-02 10:00"), std::nullopt);
  EXPECT_EQ(parsed(json::object()).max_grant_minutes, 240);
}

TEST(Policy, ReadsEveryKey) {
  const Policy p = parsed({{"auto_approve", json::array()},
                           {"max_grant_minutes", 90},
                           {"escalation_joins", true},
                           {"share_recordings", true},
                           {"keep_transfers", true}});
  EXPECT_EQ(p.max_grant_minutes, 90);
  EXPECT_TRUE(p.escalation_joins);
  EXPECT_TRUE(p.share_recordings);
  EXPECT_TRUE(p.keep_transfers);
}

TEST(Policy, FromTheAgentConfigFile) {
  auto cfg = parse_agent_config(R"({"state_dir": "/s", "engineers_file": "/e",
      "policy": {"max_grant_minutes": 60, "auto_approve": [{"name": "night", "scopes": ["shell"],
                 "days": "Sat,Sun", "hours": "22:00-06:00", "roles": ["dba"]}]}})",
                                kFile);
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto p = policy_from_config(*cfg);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->max_grant_minutes, 60);
  EXPECT_EQ(match(*p, {"shell"}, "dba", "2026-12-05 23:30"), "night");

  auto bare = parse_agent_config(R"({"state_dir": "/s", "engineers_file": "/e"})", kFile);
  ASSERT_TRUE(bare);
  auto defaults = policy_from_config(*bare);
  ASSERT_TRUE(defaults);
  EXPECT_TRUE(defaults->auto_approve.empty());
}

TEST(Policy, WeekdayMorningMatches) {
  EXPECT_EQ(match(weekday_diagnose(), {"diagnose"}, "engineer", "2026-12-02 09:30"),
            "weekday-diagnose");
  EXPECT_EQ(match(weekday_diagnose(), {"diagnose"}, "senior", "2026-12-07 08:00"),  // Monday
            "weekday-diagnose");
}

TEST(Policy, SaturdayDoesNotMatch) {
  EXPECT_EQ(match(weekday_diagnose(), {"diagnose"}, "engineer", "2026-12-05 10:00"), std::nullopt);
  EXPECT_EQ(match(weekday_diagnose(), {"diagnose"}, "engineer", "2026-12-06 10:00"), std::nullopt);
}

TEST(Policy, TheEndOfTheWindowIsNotInIt) {
  const Policy p = weekday_diagnose();
  EXPECT_EQ(match(p, {"diagnose"}, "engineer", "2026-12-04 17:59"), "weekday-diagnose");
  EXPECT_EQ(match(p, {"diagnose"}, "engineer", "2026-12-04 18:00"), std::nullopt);
  EXPECT_EQ(match(p, {"diagnose"}, "engineer", "2026-12-04 07:59"), std::nullopt);
}

TEST(Policy, NightWindowBelongsToTheDayItStartsOn) {
  const Policy p =
      parsed(approve({rule("friday-night", {"diagnose"}, "Fri", "22:00-06:00", {"engineer"})}));
  auto at = [&p](const std::string& t) { return match(p, {"diagnose"}, "engineer", t); };
  EXPECT_EQ(at("2026-12-04 21:59"), std::nullopt);    // Friday, before
  EXPECT_EQ(at("2026-12-04 22:00"), "friday-night");  // Friday
  EXPECT_EQ(at("2026-12-04 23:59"), "friday-night");  // Friday
  EXPECT_EQ(at("2026-12-05 00:00"), "friday-night");  // Saturday, still Friday's night
  EXPECT_EQ(at("2026-12-05 05:59"), "friday-night");  // Saturday
  EXPECT_EQ(at("2026-12-05 06:00"), std::nullopt);    // the end is not in it
  EXPECT_EQ(at("2026-12-05 22:30"), std::nullopt);    // Saturday's own night
  EXPECT_EQ(at("2026-12-04 03:00"), std::nullopt);    // Friday morning is Thursday's night
}

TEST(Policy, WholeDayAndWrappingDays) {
  const Policy p =
      parsed(approve({rule("weekend", {"diagnose"}, "Fri-Mon", "00:00-24:00", {"engineer"})}));
  auto at = [&p](const std::string& t) { return match(p, {"diagnose"}, "engineer", t); };
  EXPECT_EQ(at("2026-12-04 00:00"), "weekend");     // Friday
  EXPECT_EQ(at("2026-12-06 23:59"), "weekend");     // Sunday
  EXPECT_EQ(at("2026-12-07 12:00"), "weekend");     // Monday
  EXPECT_EQ(at("2026-12-08 12:00"), std::nullopt);  // Tuesday
  EXPECT_EQ(at("2026-12-03 23:59"), std::nullopt);  // Thursday
}

TEST(Policy, DayListsAndRanges) {
  const Policy p = parsed(approve({rule("a", {"fix"}, "Mon-Wed, fri", "09:00-10:00", {"dba"})}));
  auto on = [&p](const std::string& day) { return match(p, {"fix"}, "dba", day + " 09:15"); };
  EXPECT_TRUE(on("2026-12-07"));   // Mon
  EXPECT_TRUE(on("2026-12-08"));   // Tue
  EXPECT_TRUE(on("2026-12-09"));   // Wed
  EXPECT_FALSE(on("2026-12-10"));  // Thu
  EXPECT_TRUE(on("2026-12-11"));   // Fri
  EXPECT_FALSE(on("2026-12-12"));  // Sat
  EXPECT_FALSE(on("2026-12-13"));  // Sun
}

TEST(Policy, EveryRequestedScopeMustBeInTheRule) {
  const Policy p = weekday_diagnose();
  EXPECT_EQ(match(p, {"diagnose", "shell"}, "engineer", "2026-12-02 10:00"), std::nullopt);
  EXPECT_EQ(match(p, {"shell"}, "engineer", "2026-12-02 10:00"), std::nullopt);
  EXPECT_EQ(match(p, {}, "engineer", "2026-12-02 10:00"), std::nullopt);
  const Policy wide = parsed(approve(
      {rule("wide", {"diagnose", "shell", "transfer"}, "Mon-Fri", "08:00-18:00", {"senior"})}));
  EXPECT_EQ(match(wide, {"shell", "diagnose"}, "senior", "2026-12-02 10:00"), "wide");
}

TEST(Policy, RoleMustBeListed) {
  const Policy p = weekday_diagnose();
  EXPECT_EQ(match(p, {"diagnose"}, "dba", "2026-12-02 10:00"), std::nullopt);
  EXPECT_EQ(match(p, {"diagnose"}, "", "2026-12-02 10:00"), std::nullopt);
}

TEST(Policy, FirstMatchingRuleInFileOrderWins) {
  const Policy p = parsed(approve(
      {rule("dba-only", {"fix"}, "Mon-Sun", "00:00-24:00", {"dba"}),
       rule("office", {"diagnose", "shell"}, "Mon-Fri", "08:00-18:00", {"engineer", "senior"}),
       rule("always-diagnose", {"diagnose"}, "Mon-Sun", "00:00-24:00", {"engineer"})}));
  EXPECT_EQ(match(p, {"diagnose"}, "engineer", "2026-12-02 10:00"), "office");
  EXPECT_EQ(match(p, {"diagnose"}, "engineer", "2026-12-05 10:00"), "always-diagnose");
  EXPECT_EQ(match(p, {"shell"}, "engineer", "2026-12-05 10:00"), std::nullopt);
}

TEST(Policy, TimeOutOfRangeNeverMatches) {
  const Policy p =
      parsed(approve({rule("always", {"diagnose"}, "Mon-Sun", "00:00-24:00", {"engineer"})}));
  std::tm t = when("2026-12-02 10:00");
  t.tm_wday = 7;
  EXPECT_EQ(match_auto_approve(p, {"diagnose"}, "engineer", t), std::nullopt);
}

TEST(Policy, ClampMinutes) {
  const Policy p = weekday_diagnose();
  EXPECT_EQ(clamp_minutes(p, 30), 30);
  EXPECT_EQ(clamp_minutes(p, 240), 240);
  EXPECT_EQ(clamp_minutes(p, 600), 240);
  EXPECT_EQ(clamp_minutes(p, 0), 1);
  EXPECT_EQ(clamp_minutes(parsed({{"max_grant_minutes", 1440}}), 1440), 1440);
}

TEST(Policy, RuleNamesFollowTheActorGrammar) {
  const std::string longest(64, 'r');
  EXPECT_TRUE(
      parse_policy(approve({rule(longest, {"diagnose"}, "Mon", "08:00-09:00", {"dba"})}), kFile));
  EXPECT_TRUE(
      parse_policy(approve({rule("A.b_c-9", {"diagnose"}, "Mon", "08:00-09:00", {"dba"})}), kFile));
}

struct BadCase {
  json section;
  std::string path;  // the key path the message must name
  std::string fix;   // a piece of the advice
};

json with_rule(const std::string& key, json value) {
  json r = rule("ok", {"diagnose"}, "Mon-Fri", "08:00-18:00", {"engineer"});
  if (value.is_discarded()) {
    r.erase(key);
  } else {
    r[key] = std::move(value);
  }
  return approve({r});
}

const json kGone = json(json::value_t::discarded);

std::vector<BadCase> bad_cases() {
  const std::string r0 = "policy.auto_approve[0]";
  const std::string scopes = "diagnose, shell, transfer, fix";
  const std::string roles = "engineer, senior, dba";
  json good = rule("ok", {"diagnose"}, "Mon-Fri", "08:00-18:00", {"engineer"});
  json second_bad = rule("late", {"diagnose"}, "Mon-Fri", "18:00-32:00", {"engineer"});
  return {
      {json::array(), "policy", "{ ... }"},
      {{{"auto_aprove", json::array()}}, "policy.auto_aprove", "auto_approve"},
      {{{"auto_approve", good}}, "policy.auto_approve", "[ ... ]"},
      {approve({1}), r0, "{ ... }"},
      {with_rule("hour", "08:00-18:00"), r0 + ".hour", "hours"},
      {with_rule("hours", kGone), r0 + ".hours", "needs name, scopes, days, hours and roles"},
      {with_rule("name", kGone), r0 + ".name", "needs name"},
      {with_rule("name", "weekday diagnose"), r0 + ".name", "1 to 64 letters"},
      {with_rule("name", ""), r0 + ".name", "1 to 64 letters"},
      {with_rule("name", std::string(65, 'x')), r0 + ".name", "1 to 64 letters"},
      {with_rule("name", 7), r0 + ".name", "1 to 64 letters"},
      {approve({good, good}), "policy.auto_approve[1].name", r0},
      {with_rule("scopes", json::array()), r0 + ".scopes", scopes},
      {with_rule("scopes", "diagnose"), r0 + ".scopes", scopes},
      {with_rule("scopes", {"diagnose", "shel"}), r0 + ".scopes[1]", scopes},
      {with_rule("roles", json::array()), r0 + ".roles", roles},
      {with_rule("roles", {"admin"}), r0 + ".roles[0]", roles},
      {with_rule("days", "Mon-Fry"), r0 + ".days", "Mon-Fri"},
      {with_rule("days", ""), r0 + ".days", "Mon-Fri"},
      {with_rule("days", "Mon,,Wed"), r0 + ".days", "Mon-Fri"},
      {with_rule("days", "Monday"), r0 + ".days", "Mon-Fri"},
      {with_rule("days", "Mon-Wed-Fri"), r0 + ".days", "Mon-Fri"},
      {with_rule("days", 5), r0 + ".days", "Mon-Fri"},
      {with_rule("hours", "8:00-18:00"), r0 + ".hours", "HH:MM-HH:MM"},
      {with_rule("hours", "08:00-25:00"), r0 + ".hours", "HH:MM-HH:MM"},
      {with_rule("hours", "08:60-09:00"), r0 + ".hours", "HH:MM-HH:MM"},
      {with_rule("hours", "24:00-06:00"), r0 + ".hours", "HH:MM-HH:MM"},
      {with_rule("hours", "08:00 18:00"), r0 + ".hours", "HH:MM-HH:MM"},
      {with_rule("hours", "08:00"), r0 + ".hours", "HH:MM-HH:MM"},
      {with_rule("hours", "08:00-08:00"), r0 + ".hours", "00:00-24:00"},
      {with_rule("hours", "00:00-00:00"), r0 + ".hours", "00:00-24:00"},
      {approve({good, second_bad}), "policy.auto_approve[1].hours", "HH:MM-HH:MM"},
      {{{"max_grant_minutes", 0}}, "policy.max_grant_minutes", "1 to 1440"},
      {{{"max_grant_minutes", 1441}}, "policy.max_grant_minutes", "1 to 1440"},
      {{{"max_grant_minutes", -5}}, "policy.max_grant_minutes", "1 to 1440"},
      {{{"max_grant_minutes", UINT64_MAX}}, "policy.max_grant_minutes", "1 to 1440"},
      {{{"max_grant_minutes", "240"}}, "policy.max_grant_minutes", "1 to 1440"},
      {{{"max_grant_minutes", 240.5}}, "policy.max_grant_minutes", "1 to 1440"},
      {{{"escalation_joins", "yes"}}, "policy.escalation_joins", "true or false"},
      {{{"share_recordings", 1}}, "policy.share_recordings", "true or false"},
      {{{"keep_transfers", nullptr}}, "policy.keep_transfers", "true or false"},
  };
}

class PolicyErrors : public ::testing::Test {
 protected:
  void TearDown() override { i18n::set_lang(i18n::Lang::kEn); }
};

TEST_F(PolicyErrors, EveryMistakeNamesTheFileTheKeyAndTheFix) {
  for (const BadCase& c : bad_cases()) {
    auto p = parse_policy(c.section, kFile);
    ASSERT_FALSE(p) << c.section.dump();
    const std::string& msg = p.error().message;
    EXPECT_NE(msg.find(kFile), std::string::npos) << msg;
    EXPECT_NE(msg.find("'" + c.path + "'"), std::string::npos) << c.path << " not in: " << msg;
    EXPECT_NE(msg.find(c.fix), std::string::npos) << c.fix << " not in: " << msg;
    EXPECT_EQ(msg.find("consent.policy."), std::string::npos) << "raw id: " << msg;
    EXPECT_TRUE(p.error().reason.starts_with("config_")) << p.error().reason;
  }
}

TEST_F(PolicyErrors, InChineseToo) {
  i18n::set_lang(i18n::Lang::kZhCN);
  for (const BadCase& c : bad_cases()) {
    auto p = parse_policy(c.section, kFile);
    ASSERT_FALSE(p) << c.section.dump();
    const std::string& msg = p.error().message;
    EXPECT_NE(msg.find(kFile), std::string::npos) << msg;
    EXPECT_NE(msg.find("“" + c.path + "”"), std::string::npos) << c.path << " not in: " << msg;
    EXPECT_EQ(msg.find("consent.policy."), std::string::npos) << "raw id: " << msg;
    EXPECT_EQ(msg.find(" must "), std::string::npos) << "English left in: " << msg;
  }
}

TEST_F(PolicyErrors, QuotedValuesCannotDriveATerminal) {
  for (const json& section :
       {with_rule("name", "bad\x1b]0;owned\x07name"), with_rule("hours\x1b[2J\x07", "08:00-18:00"),
        json{{"max_grant_minutes\x1b[2J", 1}}}) {
    auto p = parse_policy(section, kFile);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().message.find('\x1b'), std::string::npos) << p.error().message;
    EXPECT_EQ(p.error().message.find('\x07'), std::string::npos) << p.error().message;
  }
}

}  // namespace
}  // namespace rdiag::agent
