// What `records list` and `records export` derive from a session's events,
// on hand-made event lists; and the reader's verdict on a damaged file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "agent/records/summary.h"
#include "common/i18n.h"
#include "common/records/journal.h"
#include "common/records/ledger.h"

namespace rdiag::agent {
namespace {

using nlohmann::json;
using records::Event;
using Clock = std::chrono::system_clock;

const std::string kEngineer = "engineer:SHA256:3fKqXo3p7hYVzY2J3C0lJqv0x4tYk1W8oTqgGmBXZ0c";

Event ev(std::int64_t seq, const std::string& ts, const std::string& type, const std::string& actor,
         json data = json::object()) {
  Event e;
  e.seq = seq;
  e.ts = ts;
  e.type = type;
  e.actor = actor;
  e.data = std::move(data);
  return e;
}

Event created(const std::string& ts = "2026-11-28T06:00:00.000Z") {
  return ev(1, ts, "request.created", kEngineer,
            {{"ticket", "ERP-2041"},
             {"reason", "月结报表很慢"},
             {"scopes", {"diagnose", "shell"}},
             {"minutes", 60},
             {"engineer", {{"name", "李伟"}, {"id", "E1024"}, {"role", "senior"}}},
             {"peer", "10.0.0.5:50022"}});
}

Event approved(const std::string& ts = "2026-11-28T06:02:30.000Z") {
  return ev(
      2, ts, "request.approved", "customer:zhang",
      {{"scopes", {"diagnose"}}, {"minutes", 30}, {"expires_at", "2026-11-28T06:32:30.000Z"}});
}

TEST(RecordsSummary, ClosedSessionGivesEveryAuditFigure) {
  const std::vector<Event> events = {
      created(),
      approved(),
      ev(3, "2026-11-28T06:10:00.000Z", "diag.run", kEngineer),
      ev(4, "2026-11-28T06:40:00.000Z", "session.closed", kEngineer,
         {{"cause", "索引缺失"}, {"solution", "重建索引"}, {"outcome", "resolved"}}),
      ev(5, "2026-11-28T07:00:00.000Z", "rating", "customer:zhang",
         {{"score", 5}, {"comment", "很快"}}),
      ev(6, "2026-11-28T07:01:00.000Z", "customer.confirmed", "customer:zhang"),
  };
  const SessionSummary s = summarize_session("20261128-060000-AB12", events);
  EXPECT_EQ(s.state, "closed");
  EXPECT_EQ(s.ticket, "ERP-2041");
  EXPECT_EQ(s.reason, "月结报表很慢");
  EXPECT_EQ(s.engineer_name, "李伟");
  EXPECT_EQ(s.engineer_id, "E1024");
  EXPECT_EQ(s.engineer_role, "senior");
  EXPECT_EQ(s.engineer_fingerprint, "SHA256:3fKqXo3p7hYVzY2J3C0lJqv0x4tYk1W8oTqgGmBXZ0c");
  EXPECT_EQ(s.scopes, std::vector<std::string>{"diagnose"}) << "the approval narrowed the scopes";
  EXPECT_EQ(s.minutes, 30);
  EXPECT_EQ(s.opened, "2026-11-28T06:00:00.000Z");
  EXPECT_EQ(s.approved, "2026-11-28T06:02:30.000Z");
  EXPECT_EQ(s.approver, "customer:zhang");
  EXPECT_EQ(s.approval_wait_s, 150);
  EXPECT_EQ(s.closed, "2026-11-28T06:40:00.000Z");
  EXPECT_EQ(s.duration_s, 2400);
  EXPECT_EQ(s.outcome, "resolved");
  EXPECT_EQ(s.cause, "索引缺失");
  EXPECT_EQ(s.solution, "重建索引");
  EXPECT_FALSE(s.escalated);
  EXPECT_EQ(s.rating, 5);
  EXPECT_EQ(s.rating_comment, "很快");
  EXPECT_EQ(s.customer, "confirmed");
  EXPECT_EQ(s.events, 6);
  EXPECT_EQ(s.last_seq, 6);
  EXPECT_EQ(s.last_ts, "2026-11-28T07:01:00.000Z");
}

TEST(RecordsSummary, StateBeforeAnyEndIsPendingThenOpen) {
  EXPECT_EQ(summarize_session("x", {created()}).state, "pending");
  EXPECT_EQ(summarize_session("x", {created(), approved()}).state, "open");
  EXPECT_FALSE(is_ended_state("open"));
  EXPECT_FALSE(is_ended_state("pending"));
  EXPECT_TRUE(is_ended_state("closed"));
}

TEST(RecordsSummary, EachTerminalEventNamesItsState) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"request.denied", "denied"}, {"request.expired", "expired"},
      {"grant.expired", "expired"}, {"grant.revoked", "revoked"},
      {"session.closed", "closed"}, {"session.interrupted", "interrupted"},
  };
  for (const auto& [type, state] : cases) {
    const auto s =
        summarize_session("x", {created(), ev(2, "2026-11-28T06:05:00.000Z", type, "agent")});
    EXPECT_EQ(s.state, state) << type;
    EXPECT_EQ(s.closed, "2026-11-28T06:05:00.000Z") << type;
  }
}

TEST(RecordsSummary, TheLastTerminalEventWins) {
  const auto s = summarize_session(
      "x", {created(), approved(), ev(3, "2026-11-28T06:20:00.000Z", "grant.expired", "agent"),
            ev(4, "2026-11-28T06:21:00.000Z", "grant.revoked", "customer:zhang")});
  EXPECT_EQ(s.state, "revoked");
  EXPECT_EQ(s.closed, "2026-11-28T06:21:00.000Z");
  EXPECT_EQ(s.duration_s, 21 * 60);
}

TEST(RecordsSummary, ADeniedRequestHasNoWaitAndNoDuration) {
  const auto s = summarize_session(
      "x", {created(), ev(2, "2026-11-28T06:09:00.000Z", "request.denied", "customer:zhang",
                          {{"reason", "not during month-end close"}})});
  EXPECT_EQ(s.state, "denied");
  EXPECT_FALSE(s.approval_wait_s);
  EXPECT_FALSE(s.duration_s);
  EXPECT_TRUE(s.approved.empty());
}

TEST(RecordsSummary, MissingOrMistypedFieldsStayEmptyNotZero) {
  const auto s = summarize_session(
      "x", {ev(1, "2026-11-28T06:00:00.000Z", "request.created", "agent",
               {{"ticket", 42}, {"engineer", "not an object"}, {"minutes", "sixty"}}),
            ev(2, "2026-11-28T06:01:00.000Z", "request.approved", "policy:weekday"),
            ev(3, "2026-11-28T06:30:00.000Z", "session.closed", "agent"),
            ev(4, "2026-11-28T06:31:00.000Z", "rating", "customer:zhang", {{"score", "5"}}),
            ev(5, "2026-11-28T06:32:00.000Z", "rating", "customer:zhang", {{"score", 9}})});
  EXPECT_EQ(s.state, "closed");
  EXPECT_EQ(s.ticket, "");
  EXPECT_EQ(s.engineer_name, "");
  EXPECT_EQ(s.engineer_fingerprint, "") << "the actor is not an engineer";
  EXPECT_FALSE(s.minutes);
  EXPECT_EQ(s.outcome, "");
  EXPECT_FALSE(s.rating) << "a score that is not 1..5 is no rating";
  EXPECT_EQ(s.scopes, std::vector<std::string>{});
  EXPECT_EQ(s.approval_wait_s, 60);
}

TEST(RecordsSummary, NoEventsAtAll) {
  const auto s = summarize_session("x", {});
  EXPECT_EQ(s.state, "pending");
  EXPECT_EQ(s.events, 0);
  EXPECT_TRUE(s.opened.empty());
}

TEST(RecordsSummary, EscalationComesFromTheEventOrTheOutcome) {
  auto by_event = summarize_session("x", {created(), approved(),
                                          ev(3, "2026-11-28T06:10:00.000Z", "escalated", kEngineer,
                                             {{"to", "E2001"}, {"note", "needs a DBA"}})});
  EXPECT_TRUE(by_event.escalated);
  EXPECT_EQ(by_event.escalated_to, "E2001");
  auto by_outcome = summarize_session("x", {created(), approved(),
                                            ev(3, "2026-11-28T06:10:00.000Z", "session.closed",
                                               kEngineer, {{"outcome", "escalated"}})});
  EXPECT_TRUE(by_outcome.escalated);
}

TEST(RecordsSummary, TheLatestCustomerWordCounts) {
  const auto s = summarize_session(
      "x",
      {created(), approved(),
       ev(3, "2026-11-28T06:10:00.000Z", "session.closed", kEngineer, {{"outcome", "resolved"}}),
       ev(4, "2026-11-28T06:11:00.000Z", "customer.confirmed", "customer:zhang"),
       ev(5, "2026-11-28T08:00:00.000Z", "customer.disputed", "customer:zhang",
          {{"reason", "报表又慢了"}})});
  EXPECT_EQ(s.customer, "disputed");
  EXPECT_EQ(s.customer_reason, "报表又慢了");
}

SessionSummary figures(std::string outcome, std::optional<std::int64_t> duration,
                       std::optional<std::int64_t> wait, std::optional<std::int64_t> rating,
                       bool escalated, bool granted = true) {
  SessionSummary s;
  s.outcome = std::move(outcome);
  s.duration_s = duration;
  s.approval_wait_s = wait;
  s.rating = rating;
  s.escalated = escalated;
  if (granted) s.approved = "2026-11-28T06:00:00.000Z";
  return s;
}

TEST(RecordsSummary, TotalsCountOnlyWhatHappened) {
  const std::vector<SessionSummary> sessions = {
      figures("resolved", 1000, 60, 5, false), figures("resolved", 3000, 120, std::nullopt, false),
      figures("escalated", 500, 30, 3, true),
      figures("", std::nullopt, std::nullopt, std::nullopt, false, /*granted=*/false),  // denied
  };
  const RecordsTotals t = summarize_totals(sessions);
  EXPECT_EQ(t.sessions, 4);
  EXPECT_EQ(t.resolved, 2);
  ASSERT_TRUE(t.escalation_rate);
  EXPECT_DOUBLE_EQ(*t.escalation_rate, 1.0 / 3.0) << "a denied request was never served";
  ASSERT_TRUE(t.avg_resolution_s);
  EXPECT_DOUBLE_EQ(*t.avg_resolution_s, 2000.0) << "resolved sessions only";
  ASSERT_TRUE(t.avg_approval_wait_s);
  EXPECT_DOUBLE_EQ(*t.avg_approval_wait_s, 70.0);
  ASSERT_TRUE(t.avg_rating);
  EXPECT_DOUBLE_EQ(*t.avg_rating, 4.0) << "unrated sessions do not count as zero";

  const RecordsTotals none = summarize_totals({});
  EXPECT_EQ(none.sessions, 0);
  EXPECT_FALSE(none.escalation_rate);
  EXPECT_FALSE(none.avg_resolution_s);
  EXPECT_FALSE(none.avg_approval_wait_s);
  EXPECT_FALSE(none.avg_rating);
}

TEST(RecordsSummary, TimestampsAndSessionIds) {
  auto tp = parse_ts("2026-11-28T06:05:00.123Z");
  ASSERT_TRUE(tp);
  EXPECT_EQ(Clock::to_time_t(*tp), 1795845900);
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::milliseconds>(tp->time_since_epoch()).count() % 1000,
      123);
  EXPECT_FALSE(parse_ts("2026-11-28 06:05:00"));
  EXPECT_FALSE(parse_ts("2026-02-30T06:05:00.000Z"));
  EXPECT_EQ(session_id_ts("20261128-060500-AB12"), "2026-11-28T06:05:00.000Z");
  EXPECT_EQ(session_id_ts("../../etc"), "");
}

TEST(RecordsSince, DurationsCountBackFromNow) {
  const auto now = Clock::from_time_t(1795845900);
  EXPECT_EQ(*parse_since("90s", now), now - std::chrono::seconds(90));
  EXPECT_EQ(*parse_since("15m", now), now - std::chrono::minutes(15));
  EXPECT_EQ(*parse_since("2h", now), now - std::chrono::hours(2));
  EXPECT_EQ(*parse_since("3d", now), now - std::chrono::hours(72));
}

TEST(RecordsSince, Rfc3339WithAnOffsetIsExact) {
  const auto now = Clock::now();
  EXPECT_EQ(Clock::to_time_t(*parse_since("2026-11-28T06:05:00Z", now)), 1795845900);
  EXPECT_EQ(Clock::to_time_t(*parse_since("2026-11-28T14:05:00+08:00", now)), 1795845900);
  EXPECT_EQ(Clock::to_time_t(*parse_since("2026-11-28T14:05:00.5+08:00", now)), 1795845900);
  EXPECT_EQ(Clock::to_time_t(*parse_since("2026-11-28T01:05-05:00", now)), 1795845900);
}

TEST(RecordsSince, NoOffsetMeansLocalTime) {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;
  tm.tm_mday = 28;
  tm.tm_isdst = -1;
  std::tm midnight = tm;
  EXPECT_EQ(Clock::to_time_t(*parse_since("2026-11-28", Clock::now())), std::mktime(&midnight));
  tm.tm_hour = 9;
  tm.tm_min = 30;
  EXPECT_EQ(Clock::to_time_t(*parse_since("2026-11-28T09:30:00", Clock::now())), std::mktime(&tm));
}

TEST(RecordsSince, AnythingElseIsAUsageError) {
  for (const char* bad :
       {"", "s", "10", "10w", "-5m", "1.5h", "99999999999d", "2026-13-01", "2026-02-29",
        "2026-11-28T25:00:00Z", "2026-11-28T06:05:00+8", "yesterday", "2026-11-28T06:05:00Zjunk"}) {
    auto r = parse_since(bad, Clock::now());
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().reason, "usage") << bad;
    }
  }
  EXPECT_TRUE(parse_since("2028-02-29", Clock::now())) << "a leap day";
}

TEST(RecordsSummary, EveryEventTypeHasAReadableLabelInBothLanguages) {
  ASSERT_EQ(records::known_event_types().size(), 32U);
  for (const std::string_view type : records::known_event_types()) {
    ASSERT_TRUE(records::is_known_event_type(type)) << type;
    std::string id = "agent.records.type." + std::string(type);
    std::replace(id.begin() + 19, id.end(), '.', '_');
    EXPECT_TRUE(i18n::has_id(id)) << id;
  }
  for (const char* state :
       {"pending", "open", "closed", "denied", "expired", "revoked", "interrupted", "damaged"}) {
    EXPECT_TRUE(i18n::has_id(std::string("agent.records.state.") + state)) << state;
  }
}

// ---------------------------------------------------------------------------
// The reader, on real files written by the journal.

class ReaderDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rdiag-summary-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/records/" + kId);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string events_path() const { return dir_ + "/records/" + kId + "/events.jsonl"; }

  void write_session() {
    auto j = records::Journal::open(events_path(), records::kLedgerGenesis, nullptr);
    ASSERT_TRUE(j) << j.error().message;
    const Event c = created();
    ASSERT_TRUE(j->append(c.type, c.actor, c.data, c.ts));
    const Event a = approved();
    ASSERT_TRUE(j->append(a.type, a.actor, a.data, a.ts));
    ASSERT_TRUE(j->append("session.closed", kEngineer, {{"outcome", "resolved"}},
                          "2026-11-28T06:30:00.000Z"));
  }

  static constexpr const char* kId = "20261128-060000-AB12";
  std::string dir_;
};

TEST_F(ReaderDir, ReadsAWholeSessionWithoutALedger) {
  write_session();
  RecordsReader reader(dir_);
  EXPECT_FALSE(reader.has_ledger());
  auto ids = reader.session_ids();
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, std::vector<std::string>{kId});
  const SessionFile f = reader.read(kId);
  EXPECT_EQ(f.damage, "");
  EXPECT_EQ(f.events.size(), 3U);
  EXPECT_EQ(summarize_file(f).state, "closed");
  EXPECT_EQ(f.seals, 0);
}

TEST_F(ReaderDir, AnEditedLineMakesTheSessionDamagedButKeepsWhatCameBefore) {
  write_session();
  std::string text;
  {
    std::ifstream in(events_path());
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto at = text.find("resolved");
  ASSERT_NE(at, std::string::npos);
  text[at] = 'R';  // one byte in line 3
  std::ofstream(events_path(), std::ios::trunc) << text;
  RecordsReader reader(dir_);
  const SessionFile f = reader.read(kId);
  EXPECT_EQ(f.events.size(), 2U);
  EXPECT_NE(f.damage.find("line 3"), std::string::npos) << f.damage;
  const SessionSummary s = summarize_file(f);
  EXPECT_EQ(s.state, "damaged");
  EXPECT_EQ(s.ticket, "ERP-2041") << "what could be read is still shown";
}

TEST_F(ReaderDir, ADeletedLineBreaksTheLink) {
  write_session();
  std::string text;
  {
    std::ifstream in(events_path());
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto first_end = text.find('\n');
  const auto second_end = text.find('\n', first_end + 1);
  text.erase(first_end + 1, second_end - first_end);  // line 2 gone
  std::ofstream(events_path(), std::ios::trunc) << text;
  const SessionFile f = RecordsReader(dir_).read(kId);
  EXPECT_EQ(f.events.size(), 1U);
  EXPECT_NE(f.damage.find("line 2"), std::string::npos) << f.damage;
}

TEST_F(ReaderDir, AnUnfinishedLastLineIsNotDamage) {
  write_session();
  std::ofstream(events_path(), std::ios::app) << R"({"v":1,"seq":4,"ts":"2026)";
  const SessionFile f = RecordsReader(dir_).read(kId);
  EXPECT_EQ(f.damage, "");
  EXPECT_EQ(f.events.size(), 3U);
}

TEST_F(ReaderDir, AMissingFolderOrAnEmptyStateDir) {
  RecordsReader reader(dir_);
  const SessionFile f = reader.read("20261128-070000-CD34");
  EXPECT_EQ(summarize_file(f).state, "damaged");
  EXPECT_EQ(summarize_file(f).opened, "2026-11-28T07:00:00.000Z");
  EXPECT_FALSE(RecordsReader(dir_ + "/nothing-here").session_ids());
}

}  // namespace
}  // namespace rdiag::agent
