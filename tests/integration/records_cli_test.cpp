// `rdiag-agent records list|show|verify|export|prune|rotate-key` on the real
// binary, over state dirs holding real records: chains written by the journal,
// seals by the seal key, the ledger linking them (built here with explicit
// timestamps, since retention is about age), and a record written by the
// running agent itself.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <regex>
#include <sstream>

#include "common/digest.h"
#include "common/records/chain.h"
#include "common/records/journal.h"
#include "common/records/ledger.h"
#include "common/records/seal.h"
#include "common/ssh_key.h"
#include "common/text_safety.h"
#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;
using std::chrono::hours;
using std::chrono::minutes;
namespace fs = std::filesystem;

constexpr hours kDay{24};

// One event of a hand-made session, `at` after the session's start.
struct Step {
  std::string type;
  std::string actor;
  json data;
  std::chrono::seconds at;
};

// Writes a records store the way the agent lays it out (ledger line, folder,
// chain, seal, seal line), with timestamps chosen by the test.
class StoreBuilder {
 public:
  explicit StoreBuilder(std::string state_dir) : state_(std::move(state_dir)) {
    fs::create_directories(state_ + "/records");
    ::chmod(state_.c_str(), 0700);
    auto key = generate_ed25519("rdiag-agent seal key");
    EXPECT_TRUE(key);
    seal_ = *key;
    write_file(state_ + "/seal_ed25519", openssh_private_key_pem(seal_), 0600);
    open_ledger();
  }

  // A new session starting at `start`; sealed like an ended session when
  // `seal` (the agent seals whenever a session ends).
  std::string add(Clock::time_point start, const std::vector<Step>& steps, bool seal = true) {
    if (!ledger_) open_ledger();
    std::string id = records::make_session_id(start, 7919U * ++count_);
    auto opened = ledger_->append("session.opened", "agent",
                                  {{"session_id", id}, {"engineer", engineer_fp()}},
                                  records::format_ts(start));
    EXPECT_TRUE(opened) << opened.error().message;
    const std::string dir = state_ + "/records/" + id;
    fs::create_directories(dir);
    std::string last_ts;
    {
      auto j = records::Journal::open(dir + "/events.jsonl", opened->hash, nullptr);
      EXPECT_TRUE(j) << j.error().message;
      for (const auto& s : steps) {
        last_ts = records::format_ts(start + s.at);
        auto e = j->append(s.type, s.actor, s.data, last_ts);
        EXPECT_TRUE(e) << s.type << ": " << e.error().message;
      }
    }
    if (seal) seal_session(id, dir, last_ts);
    return id;
  }

  // Lets a CLI writer (Store::open) take the ledger's lock.
  void release() { ledger_.reset(); }
  void open_ledger() {
    auto j = records::Journal::open(state_ + "/" + std::string(records::kLedgerFile),
                                    records::kLedgerGenesis, nullptr, records::is_ledger_type);
    ASSERT_TRUE(j) << j.error().message;
    ledger_.emplace(std::move(*j));
  }

  std::string seal_fingerprint() const { return fingerprint_sha256(seal_.public_key().blob); }
  static std::string engineer_fp() {
    static const std::string fp = [] {
      auto k = generate_ed25519("engineer");
      return fingerprint_sha256(k->public_key().blob);
    }();
    return fp;
  }
  static std::string engineer() { return "engineer:" + engineer_fp(); }

 private:
  void seal_session(const std::string& id, const std::string& dir, const std::string& ts) {
    const std::string text = read_file(dir + "/events.jsonl");
    // The chain starts at the session.opened line's hash.
    auto index = records::index_ledger(read_file(state_ + "/ledger.jsonl"));
    ASSERT_TRUE(index) << index.error().message;
    const auto chain = records::verify_chain(text, index->sessions.at(id).genesis);
    ASSERT_TRUE(chain.ok) << chain.message;
    auto attachments = records::list_attachments(dir);
    ASSERT_TRUE(attachments);
    auto name = records::write_seal(dir, seal_, id, chain, *attachments);
    ASSERT_TRUE(name) << name.error().message;
    auto line = ledger_->append("session.sealed", "agent",
                                {{"session_id", id},
                                 {"seal", *name},
                                 {"last_seq", chain.last_seq},
                                 {"last_hash", chain.last_hash},
                                 {"bytes", static_cast<std::int64_t>(text.size())},
                                 {"sha256", sha256_hex(read_file(dir + "/" + *name))}},
                                ts);
    ASSERT_TRUE(line) << line.error().message;
  }

  std::string state_;
  Ed25519PrivateKey seal_;
  std::optional<records::Journal> ledger_;
  int count_ = 0;
};

json request(const std::string& ticket, const std::string& name, const std::string& id) {
  return {{"ticket", ticket},
          {"reason", "月结报表很慢"},
          {"scopes", {"diagnose", "shell"}},
          {"minutes", 60},
          {"engineer", {{"name", name}, {"id", id}, {"role", "engineer"}}},
          {"peer", "10.0.0.5:50022"}};
}

// request, approval after 2 minutes, close after 40, rating after 60.
std::vector<Step> served(const std::string& ticket, const std::string& name,
                         const std::string& cause, const std::string& solution,
                         const std::string& outcome, int score) {
  using std::chrono::seconds;
  return {
      {"request.created", StoreBuilder::engineer(), request(ticket, name, "E1024"), seconds(0)},
      {"request.approved",
       "customer:zhang",
       {{"scopes", {"diagnose"}}, {"minutes", 30}},
       seconds(120)},
      {"diag.run", StoreBuilder::engineer(), {{"collectors", {"os", "disk"}}}, seconds(300)},
      {"session.closed",
       StoreBuilder::engineer(),
       {{"cause", cause}, {"solution", solution}, {"outcome", outcome}},
       seconds(2400)},
      {"rating", "customer:zhang", {{"score", score}, {"comment", "很快"}}, seconds(3600)},
  };
}

std::vector<Step> pending(const std::string& ticket, const std::string& name) {
  return {{"request.created", StoreBuilder::engineer(), request(ticket, name, "E2048"),
           std::chrono::seconds(0)}};
}

// RFC 4180, as a spreadsheet reads it.
std::vector<std::vector<std::string>> parse_csv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(cell));
      cell.clear();
    } else if (c == '\n') {
      row.push_back(std::move(cell));
      cell.clear();
      rows.push_back(std::move(row));
      row.clear();
    } else if (c != '\r') {
      cell += c;
    }
  }
  return rows;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

class RecordsCli : public ::testing::Test {
 protected:
  void SetUp() override { write_config(365); }

  void write_config(int retention_days) {
    write_file(config_, json{{"state_dir", "state"},
                             {"engineers_file", "engineers"},
                             {"retention_days", retention_days}}
                            .dump());
  }

  ProcResult records(std::vector<std::string> args, const std::string& lang = "C.UTF-8") {
    std::vector<std::string> argv = {RDIAG_AGENT_BIN, "--config", config_, "records"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcOptions opts;
    opts.env = {{"LANG", lang}, {"TZ", "Asia/Shanghai"}};
    opts.unset_env = {"LC_ALL", "LC_MESSAGES"};
    return run(argv, opts);
  }

  // Three sessions: resolved two hours ago, escalated yesterday, one pending.
  void typical() {
    const auto now = Clock::now();
    resolved_ = store_.add(now - hours(2), served("ERP-2041", "李伟", "索引缺失",
                                                  "重建索引，清理临时表", "resolved", 5));
    escalated_ =
        store_.add(now - kDay, served("ERP-2042", "Wang Fang", R"(=HYPERLINK("http://x","y"))",
                                      "line one\nline \"two\", with comma", "escalated", 3));
    pending_ = store_.add(now - minutes(5), pending("ERP-2043", "Zhou"), /*seal=*/false);
  }

  std::string state() const { return dir_ / "state"; }
  std::string events_of(const std::string& id) const {
    return state() + "/records/" + id + "/events.jsonl";
  }

  TempDir dir_;
  std::string config_ = dir_ / "agent.json";
  StoreBuilder store_{dir_ / "state"};
  std::string resolved_, escalated_, pending_;
};

TEST_F(RecordsCli, ListShowsOneReadableRowPerSession) {
  typical();
  auto r = records({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 4U) << r.out;
  EXPECT_NE(out[0].find("SESSION"), std::string::npos);
  EXPECT_NE(out[0].find("TICKET"), std::string::npos);
  EXPECT_NE(out[0].find("SEALED"), std::string::npos);
  // Sorted by id, which sorts by time: yesterday, two hours ago, now.
  EXPECT_EQ(out[1].rfind(escalated_, 0), 0U) << r.out;
  EXPECT_EQ(out[2].rfind(resolved_, 0), 0U) << r.out;
  EXPECT_EQ(out[3].rfind(pending_, 0), 0U) << r.out;
  EXPECT_NE(out[2].find("closed"), std::string::npos);
  EXPECT_NE(out[2].find("ERP-2041"), std::string::npos);
  EXPECT_NE(out[2].find("李伟 (E1024) " + StoreBuilder::engineer_fp().substr(0, 15) + "…"),
            std::string::npos)
      << out[2];
  EXPECT_NE(out[3].find("pending"), std::string::npos);
  EXPECT_NE(out[3].find(" no"), std::string::npos) << "an unsealed session says so";
}

TEST_F(RecordsCli, ListJsonUsesTheWireFieldNames) {
  typical();
  auto r = records({"list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["sessions"].size(), 3U);
  const json& s = j["sessions"][1];
  EXPECT_EQ(s["session_id"], resolved_);
  EXPECT_EQ(s["state"], "closed");
  EXPECT_EQ(s["ticket"], "ERP-2041");
  EXPECT_EQ(s["engineer"]["name"], "李伟");
  EXPECT_EQ(s["engineer"]["id"], "E1024");
  EXPECT_EQ(s["engineer"]["fingerprint"], StoreBuilder::engineer_fp());
  EXPECT_EQ(s["events"], 5);
  EXPECT_EQ(s["seals"], 1);
  EXPECT_EQ(s["unsealed_tail"], false);
  EXPECT_TRUE(s["closed"].is_string());
  EXPECT_TRUE(j["sessions"][2]["closed"].is_null()) << "a pending session has not closed";
  // The global option also works before the subcommand.
  auto before = run({RDIAG_AGENT_BIN, "--json", "--config", config_, "records", "list"});
  EXPECT_EQ(json::parse(before.out), j);
}

TEST_F(RecordsCli, ListSinceKeepsOnlyNewerSessions) {
  typical();
  auto r = records({"list", "--since", "3h", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["sessions"].size(), 2U);
  auto bad = records({"list", "--since", "yesterday"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("90s, 15m, 2h, 3d"), std::string::npos) << bad.err;
}

TEST_F(RecordsCli, ChineseLocaleGivesChineseHeadingsAndAlignedColumns) {
  typical();
  auto r = records({"list"}, "zh_CN.UTF-8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 4U);
  for (const char* heading : {"会话", "状态", "工单", "工程师", "开始时间", "封印"}) {
    EXPECT_NE(out[0].find(heading), std::string::npos) << heading << "\n" << r.out;
  }
  EXPECT_NE(out[2].find("已关闭"), std::string::npos);
  EXPECT_NE(out[3].find("待批准"), std::string::npos);
  // The "opened" column starts at the same terminal column on every line,
  // although the engineer column holds 李伟 (2 columns a character).
  const auto column_of = [](const std::string& line, std::size_t byte) {
    return display_width(line.substr(0, byte));
  };
  const std::size_t heading = column_of(out[0], out[0].find("开始时间"));
  static const std::regex time_pattern(R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})");
  for (std::size_t i = 1; i < out.size(); ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(out[i], m, time_pattern)) << out[i];
    EXPECT_EQ(column_of(out[i], static_cast<std::size_t>(m.position(0))), heading) << r.out;
  }
}

TEST_F(RecordsCli, EngineerWrittenTextIsEscapedOnTheTerminal) {
  // NOLINTNEXTLINE(misc-misleading-bidirectional): the hostile text under test
  store_.add(Clock::now() - hours(1), pending("ERP-9", "\x1b]0;pwned\x07Mallory\u202e"));
  auto r = records({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(r.out.find('\x07'), std::string::npos);
  EXPECT_EQ(r.out.find("\u202e"), std::string::npos);  // NOLINT(misc-misleading-bidirectional)
  EXPECT_NE(r.out.find("\\x1b]0;pwned\\x07Mallory"), std::string::npos) << r.out;
  auto show = records({"show", store_.add(Clock::now(), pending("ERP-10", "\x1b[2J"))});
  EXPECT_EQ(show.out.find('\x1b'), std::string::npos);
}

TEST_F(RecordsCli, ShowPrintsEachEventReadableAndJsonAsStored) {
  typical();
  auto r = records({"show", resolved_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 7U) << r.out;  // heading, column titles, 5 events
  EXPECT_NE(out[0].find(resolved_), std::string::npos);
  EXPECT_NE(out[0].find("ERP-2041"), std::string::npos);
  EXPECT_NE(out[2].find("request"), std::string::npos);
  EXPECT_NE(out[2].find("ticket=ERP-2041"), std::string::npos) << out[2];
  EXPECT_NE(out[2].find("scopes=diagnose,shell"), std::string::npos) << out[2];
  EXPECT_NE(out[2].find("李伟 (E1024)"), std::string::npos) << out[2];
  EXPECT_NE(out[3].find("customer:zhang"), std::string::npos) << out[3];
  EXPECT_NE(out[5].find("outcome=resolved"), std::string::npos) << out[5];
  EXPECT_NE(out[6].find("score=5"), std::string::npos) << out[6];

  auto zh = records({"show", resolved_}, "zh_CN.UTF-8");
  EXPECT_NE(zh.out.find("发起请求"), std::string::npos) << zh.out;
  EXPECT_NE(zh.out.find("关闭会话"), std::string::npos) << zh.out;
  EXPECT_NE(zh.out.find("工单 ERP-2041"), std::string::npos) << zh.out;

  auto j = records({"show", resolved_, "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const json doc = json::parse(j.out);
  ASSERT_EQ(doc["events"].size(), 5U);
  const auto stored = lines(read_file(events_of(resolved_)));
  for (std::size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(doc["events"][i], json::parse(stored[i])) << i;
  }

  EXPECT_EQ(records({"show", "20990101-000000-ZZZZ"}).exit_code, 1);
  auto bad = records({"show", "../../etc/passwd"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("not a session id"), std::string::npos) << bad.err;
}

TEST_F(RecordsCli, ExportCsvIsSpreadsheetSafe) {
  typical();
  auto r = records({"export"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.rfind("\xEF\xBB\xBF", 0), 0U) << "UTF-8 BOM first";
  const auto rows = parse_csv(std::string_view(r.out).substr(3));
  ASSERT_EQ(rows.size(), 4U) << "a header and one row per session, even with a newline in a cell";
  const std::vector<std::string> header = {
      "session_id", "state",  "ticket",   "engineer_name",   "engineer_id", "engineer_fingerprint",
      "scopes",     "opened", "approved", "approval_wait_s", "closed",      "duration_s",
      "outcome",    "cause",  "solution", "escalated",       "rating",      "customer",
      "events",     "seals",  "sealed",   "verified"};
  EXPECT_EQ(rows[0], header);
  auto cell = [&](std::size_t row, const std::string& name) {
    const auto col = std::find(header.begin(), header.end(), name) - header.begin();
    return rows[row].at(static_cast<std::size_t>(col));
  };
  // escalated_ (yesterday), resolved_, pending_.
  EXPECT_EQ(cell(1, "cause"), "'=HYPERLINK(\"http://x\",\"y\")") << "formula-safe";
  EXPECT_EQ(cell(1, "solution"), "line one\nline \"two\", with comma");
  EXPECT_EQ(cell(1, "escalated"), "true");
  EXPECT_EQ(cell(2, "engineer_name"), "李伟");
  EXPECT_EQ(cell(2, "cause"), "索引缺失");
  EXPECT_EQ(cell(2, "solution"), "重建索引，清理临时表");
  EXPECT_EQ(cell(2, "approval_wait_s"), "120");
  EXPECT_EQ(cell(2, "duration_s"), "2400");
  EXPECT_EQ(cell(2, "rating"), "5");
  EXPECT_EQ(cell(2, "scopes"), "diagnose");
  EXPECT_EQ(cell(2, "verified"), "true");
  EXPECT_EQ(cell(2, "sealed"), "true");
  EXPECT_EQ(cell(3, "state"), "pending");
  EXPECT_EQ(cell(3, "approved"), "") << "missing facts are empty cells, not zero";
  EXPECT_EQ(cell(3, "approval_wait_s"), "");
  EXPECT_EQ(cell(3, "rating"), "");
  EXPECT_EQ(cell(3, "sealed"), "false");
  EXPECT_NE(r.out.find("\r\n"), std::string::npos) << "RFC 4180 line ends";
}

TEST_F(RecordsCli, ExportJsonHasTheAuditFigures) {
  typical();
  auto r = records({"export", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  ASSERT_EQ(doc["sessions"].size(), 3U);
  EXPECT_EQ(doc["sessions"][1]["ticket"], "ERP-2041");
  EXPECT_EQ(doc["sessions"][1]["approval_wait_s"], 120);
  EXPECT_EQ(doc["sessions"][1]["escalated"], false);
  EXPECT_TRUE(doc["sessions"][2]["rating"].is_null());
  EXPECT_TRUE(doc["sessions"][2]["duration_s"].is_null());
  const json& sum = doc["summary"];
  EXPECT_EQ(sum["sessions"], 3);
  EXPECT_EQ(sum["resolved"], 1);
  EXPECT_DOUBLE_EQ(sum["escalation_rate"].get<double>(), 0.5) << "of the two served sessions";
  EXPECT_DOUBLE_EQ(sum["avg_resolution_s"].get<double>(), 2400.0);
  EXPECT_DOUBLE_EQ(sum["avg_approval_wait_s"].get<double>(), 120.0);
  EXPECT_DOUBLE_EQ(sum["avg_rating"].get<double>(), 4.0);
  // The global --json picks JSON too.
  EXPECT_EQ(json::parse(records({"export", "--json"}).out), doc);
  EXPECT_EQ(records({"export", "--format", "xml"}).exit_code, 2);
}

TEST_F(RecordsCli, ExportToAFileOwnerOnlyAndSince) {
  typical();
  const std::string out = dir_ / "audit.csv";
  auto r = records({"export", "--since", "3h", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  const std::string text = read_file(out);
  EXPECT_EQ(parse_csv(std::string_view(text).substr(3)).size(), 3U);
  EXPECT_EQ(text.find(escalated_), std::string::npos) << "yesterday is before --since 3h";
}

TEST_F(RecordsCli, VerifyPassesAndThenNamesTheEditedFileAndLine) {
  typical();
  auto ok = records({"verify", "--all"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("OK: verified sessions: 3, "), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("ledger lines: "), std::string::npos) << ok.out;
  EXPECT_EQ(records({"verify", resolved_}).exit_code, 0);

  // One byte of line 2 (the approval) changed: 30 minutes becomes 90.
  std::string text = read_file(events_of(resolved_));
  const auto at = text.find("\"minutes\":30");
  ASSERT_NE(at, std::string::npos);
  text[at + 10] = '9';
  write_file(events_of(resolved_), text, 0600);

  auto bad = records({"verify", "--all"});
  EXPECT_EQ(bad.exit_code, 4) << bad.out << bad.err;
  auto out = lines(bad.out);
  ASSERT_GE(out.size(), 2U);
  EXPECT_NE(out[0].find("FAILED"), std::string::npos) << bad.out;
  EXPECT_NE(out[1].find("records/" + resolved_ + "/events.jsonl"), std::string::npos) << bad.out;
  EXPECT_NE(out[1].find("line 2"), std::string::npos) << bad.out;
  auto one = records({"verify", resolved_});
  EXPECT_EQ(one.exit_code, 4);
  EXPECT_NE(one.out.find("line 2"), std::string::npos) << one.out;
  EXPECT_EQ(records({"verify", escalated_}).exit_code, 0) << "the other sessions are fine";

  auto j = records({"verify", "--all", "--json"});
  const json doc = json::parse(j.out);
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["problems"][0]["file"], "records/" + resolved_ + "/events.jsonl");
  EXPECT_EQ(doc["problems"][0]["line"], 2);

  // list and export keep going, and say which session is damaged.
  auto list = records({"list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const json sessions = json::parse(list.out)["sessions"];
  ASSERT_EQ(sessions.size(), 3U);
  EXPECT_EQ(sessions[1]["state"], "damaged");
  EXPECT_EQ(sessions[0]["state"], "closed");
  auto csv = parse_csv(std::string_view(records({"export"}).out).substr(3));
  ASSERT_EQ(csv.size(), 4U);
  EXPECT_EQ(csv[2][1], "damaged");
  EXPECT_EQ(csv[2].back(), "false") << "verified";
  EXPECT_EQ(csv[1].back(), "true");
}

TEST_F(RecordsCli, VerifyTrustsOnlyTheKeysItIsGiven) {
  typical();
  const std::string other = StoreBuilder::engineer_fp();  // some other key
  auto pinned = records({"verify", "--all", "--trust", store_.seal_fingerprint()});
  EXPECT_EQ(pinned.exit_code, 0) << pinned.out << pinned.err;
  auto wrong = records({"verify", "--all", "--trust", other});
  EXPECT_EQ(wrong.exit_code, 4) << wrong.out;
  // Repeatable, and one value each: the id after --trust stays the id.
  auto both =
      records({"verify", "--trust", other, "--trust", store_.seal_fingerprint(), resolved_});
  EXPECT_EQ(both.exit_code, 0) << both.out << both.err;
  EXPECT_EQ(records({"verify", "--all", "--trust", "MD5:aa"}).exit_code, 2);
  EXPECT_EQ(records({"verify"}).exit_code, 2) << "an id or --all";
  EXPECT_EQ(records({"verify", resolved_, "--all"}).exit_code, 2);
}

TEST_F(RecordsCli, VerifyNeverCreatesAKeyNorChangesTheStore) {
  typical();
  store_.release();
  const std::string ledger = read_file(state() + "/ledger.jsonl");
  const std::string key = state() + "/seal_ed25519";
  ASSERT_EQ(::rename(key.c_str(), (key + ".away").c_str()), 0);
  auto r = records({"verify", "--all"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no seal key"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--trust"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(key)) << "verify made a key";
  // An auditor's copy: no key at all, the fingerprint pinned.
  EXPECT_EQ(records({"verify", "--all", "--trust", store_.seal_fingerprint()}).exit_code, 0);
  EXPECT_EQ(read_file(state() + "/ledger.jsonl"), ledger);
  EXPECT_EQ(
      records({"verify", "20990101-000000-ZZZZ", "--trust", store_.seal_fingerprint()}).exit_code,
      1);
}

TEST_F(RecordsCli, ReadersWorkWhileTheLedgerIsHeldAndWritersSayToStopTheAgent) {
  typical();  // the builder holds the ledger's lock, as a running agent does
  EXPECT_EQ(records({"verify", "--all"}).exit_code, 0) << "verify takes no lock";
  EXPECT_EQ(records({"list"}).exit_code, 0);
  EXPECT_EQ(records({"prune", "--dry-run"}).exit_code, 0);
  auto prune = records({"prune"});
  EXPECT_EQ(prune.exit_code, 1);
  EXPECT_NE(prune.err.find("running agent holds the records"), std::string::npos) << prune.err;
  EXPECT_NE(prune.err.find("records prune"), std::string::npos) << prune.err;
  EXPECT_NE(prune.err.find("systemctl stop rdiag-agent"), std::string::npos) << prune.err;
  auto rotate = records({"rotate-key"}, "zh_CN.UTF-8");
  EXPECT_EQ(rotate.exit_code, 1);
  EXPECT_NE(rotate.err.find("records rotate-key"), std::string::npos) << rotate.err;
  EXPECT_NE(rotate.err.find("代理停止时运行"), std::string::npos) << rotate.err;
}

TEST_F(RecordsCli, PruneRemovesOnlySessionsPastRetentionAndTheLedgerStillVerifies) {
  const auto now = Clock::now();
  const std::string old =
      store_.add(now - 400 * kDay, served("OLD-1", "李伟", "c", "s", "resolved", 4));
  const std::string young =
      store_.add(now - 200 * kDay, served("MID-1", "李伟", "c", "s", "resolved", 4));
  const std::string left_open = store_.add(now - 390 * kDay, pending("OPEN-1", "Zhou"), false);
  const std::string recent =
      store_.add(now - hours(1), served("NEW-1", "李伟", "c", "s", "resolved", 5));
  store_.release();
  const std::string ledger_before = read_file(state() + "/ledger.jsonl");

  auto dry = records({"prune", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would remove " + old + " (ticket OLD-1"), std::string::npos) << dry.out;
  EXPECT_EQ(dry.out.find(young), std::string::npos) << dry.out;
  EXPECT_EQ(dry.out.find(left_open), std::string::npos) << "not ended, not sealed: " << dry.out;
  EXPECT_EQ(dry.out.find(recent), std::string::npos);
  EXPECT_TRUE(fs::exists(state() + "/records/" + old)) << "a dry run changes nothing";
  EXPECT_EQ(read_file(state() + "/ledger.jsonl"), ledger_before);

  auto r = records({"prune"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("removed " + old + " (ticket OLD-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("removed 1 sessions older than 365 days"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(state() + "/records/" + old));
  for (const auto& kept : {young, left_open, recent}) {
    EXPECT_TRUE(fs::exists(state() + "/records/" + kept)) << kept;
  }
  EXPECT_NE(read_file(state() + "/ledger.jsonl").find("\"type\":\"session.pruned\""),
            std::string::npos);
  auto list = json::parse(records({"list", "--json"}).out)["sessions"];
  EXPECT_EQ(list.size(), 3U);
  auto verify = records({"verify", "--all"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("OK: verified sessions: 3"), std::string::npos) << verify.out;

  auto again = records({"prune", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["removed"], json::array());
  EXPECT_EQ(records({"show", old}).exit_code, 1);
}

TEST_F(RecordsCli, RetentionBelowTheLegalMinimumIsRefused) {
  const std::string old =
      store_.add(Clock::now() - 400 * kDay, served("OLD-1", "Li", "c", "s", "resolved", 4));
  store_.release();
  write_config(90);
  auto r = records({"prune"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Article 21"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("180"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(state() + "/records/" + old));
}

TEST_F(RecordsCli, RotateKeyIntroducesANewSealKeyAndOldRecordsStillVerify) {
  typical();
  store_.release();
  const std::string old_fp = store_.seal_fingerprint();
  auto r = records({"rotate-key"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto key = parse_openssh_private_key(read_file(state() + "/seal_ed25519"));
  ASSERT_TRUE(key);
  const std::string new_fp = fingerprint_sha256(key->public_key().blob);
  EXPECT_NE(new_fp, old_fp);
  EXPECT_NE(r.out.find("old: " + old_fp), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("new: " + new_fp), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("re-pin"), std::string::npos) << r.out;
  auto verify = records({"verify", "--all"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_EQ(records({"verify", resolved_}).exit_code, 0);
}

// The records the running agent writes itself, read while it runs.
TEST(RecordsCliAgent, ReadsTheRunningAgentsRecordsAndWritersAskToStopIt) {
  TempDir dir;
  Key alice = make_key(dir.path(), "alice");
  Agent agent(dir.path());
  write_file(agent.engineers_path(),
             "rdiag-name=\"李伟\",rdiag-id=\"E1024\" " + alice.public_line + "\n");
  ASSERT_TRUE(agent.start()) << agent.log();
  RpcClient c;
  ASSERT_TRUE(c.connect(agent.port(), alice.path)) << c.error();
  auto a = c.call(rpc_request(
      1, "session.request",
      {{"ticket", "INC-7"}, {"reason", "报表很慢"}, {"scopes", {"diagnose"}}, {"minutes", 30}}));
  ASSERT_TRUE(a && a->contains("result")) << (a ? a->dump() : "no answer") << agent.log();
  const std::string id = (*a)["result"]["request_id"];
  c.close();

  const std::vector<std::string> base = {RDIAG_AGENT_BIN, "--config", agent.config_path(),
                                         "records"};
  auto with = [&](std::vector<std::string> more) {
    auto argv = base;
    argv.insert(argv.end(), more.begin(), more.end());
    return run(argv);
  };
  auto list = with({"list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const json s = json::parse(list.out)["sessions"].at(0);
  EXPECT_EQ(s["session_id"], id);
  EXPECT_EQ(s["state"], "pending");
  EXPECT_EQ(s["ticket"], "INC-7");
  EXPECT_EQ(s["engineer"]["name"], "李伟");
  EXPECT_EQ(s["engineer"]["fingerprint"], alice.fingerprint);
  auto verify = with({"verify", "--all"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto prune = with({"prune"});
  EXPECT_EQ(prune.exit_code, 1);
  EXPECT_NE(prune.err.find("must run while it is stopped"), std::string::npos) << prune.err;

  ASSERT_EQ(agent.stop(), 0) << agent.log();
  // Stopped: the open request was sealed as interrupted at the next open.
  auto rotate = with({"rotate-key", "--json"});
  EXPECT_EQ(rotate.exit_code, 0) << rotate.err;
  auto after = json::parse(with({"list", "--json"}).out)["sessions"].at(0);
  EXPECT_EQ(after["state"], "interrupted");
  EXPECT_EQ(with({"verify", "--all"}).exit_code, 0);
}

}  // namespace
}  // namespace rdiag::test
