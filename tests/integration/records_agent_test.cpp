// Service records as the running agent writes them: session.request leaves a
// durable record and a ledger line before it is answered, a restart seals what
// was left open (and stock OpenSSH accepts the seal), failed sign-ins reach
// the ledger, bad params change nothing, record.get pages an engineer's own
// records and hides everyone else's, and a full or read-only disk refuses the
// request instead of acknowledging what was not written.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

json good_params() {
  return {{"ticket", "INC-20261128/7"},
          {"reason", "月结报表生成很慢，需要查看日志"},
          {"scopes", {"diagnose"}},
          {"minutes", 30}};
}

int code_of(const json& answer) {
  if (!answer.contains("error")) return 0;
  return answer["error"].value("code", 0);
}

std::string reason_of(const json& answer) {
  if (!answer.contains("error")) return "";
  return answer["error"].value("data", json::object()).value("reason", "");
}

std::string message_of(const json& answer) {
  if (!answer.contains("error")) return "";
  return answer["error"].value("message", "");
}

std::vector<std::string> raw_lines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

std::vector<json> lines_of(const std::string& path) {
  std::vector<json> out;
  for (const auto& l : raw_lines(path)) out.push_back(json::parse(l, nullptr, false));
  return out;
}

// Ledger lines of one type.
std::vector<json> ledger_lines(const std::string& state_dir, const std::string& type) {
  std::vector<json> out;
  for (auto& l : lines_of(state_dir + "/ledger.jsonl")) {
    if (l.is_object() && l.value("type", "") == type) out.push_back(l);
  }
  return out;
}

// Session folders that hold an events.jsonl.
std::set<std::string> session_ids(const std::string& state_dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state_dir + "/records", ec)) {
    if (fs::exists(e.path() / "events.jsonl")) out.insert(e.path().filename().string());
  }
  return out;
}

ProcResult verify_all(const std::string& state_dir) {
  return run({RDIAG_AGENT_BIN, "--state-dir", state_dir, "records", "verify", "--all"});
}

class RecordsAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(agent_.engineers_path(),
               R"(rdiag-name="李伟",rdiag-id="E1024" )" + alice_.public_line + "\n" +
                   R"(rdiag-name="Bob",rdiag-role="senior" )" + bob_.public_line + "\n");
  }
  void start(const std::map<std::string, std::string>& env = {}) {
    ASSERT_TRUE(agent_.start({}, "127.0.0.1:0", env)) << agent_.log();
  }
  void connect(RpcClient& c, const Key& key) {
    ASSERT_TRUE(c.connect(agent_.port(), key.path)) << c.error() << agent_.log();
  }
  json call(RpcClient& c, const std::string& method, const json& params) {
    auto a = c.call(rpc_request(++next_id_, method, params));
    EXPECT_TRUE(a.has_value()) << method << " got no answer; " << agent_.log();
    return a.value_or(json::object());
  }
  // A new request by `key`; its request_id.
  std::string request(const Key& key, const json& params = good_params()) {
    RpcClient c;
    connect(c, key);
    json a = call(c, "session.request", params);
    EXPECT_TRUE(a.contains("result")) << a.dump() << agent_.log();
    return a.value("result", json::object()).value("request_id", "");
  }
  std::string events_path(const std::string& id) const {
    return agent_.state_dir() + "/records/" + id + "/events.jsonl";
  }
  void restart() {
    ASSERT_EQ(agent_.stop(), 0) << agent_.log();
    start();
  }

  TempDir dir_;
  Key alice_ = make_key(dir_.path(), "alice");
  Key bob_ = make_key(dir_.path(), "bob");
  Agent agent_{dir_.path()};
  int next_id_ = 0;
};

TEST_F(RecordsAgent, RequestIsRecordedBeforeItIsAnsweredAndSealedAfterRestart) {
  start();
  RpcClient c;
  connect(c, alice_);
  const json a = call(c, "session.request", good_params());
  ASSERT_TRUE(a.contains("result")) << a.dump() << agent_.log();
  EXPECT_EQ(a["result"]["state"], "pending");
  const std::string id = a["result"]["request_id"];
  EXPECT_TRUE(std::regex_match(id, std::regex("^[0-9]{8}-[0-9]{6}-[0-9A-HJKMNP-TV-Z]{4}$"))) << id;

  // Durable before the answer: the file and the ledger line are there now.
  auto events = lines_of(events_path(id));
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0]["type"], "request.created");
  EXPECT_EQ(events[0]["actor"], "engineer:" + alice_.fingerprint);
  EXPECT_EQ(events[0]["data"]["ticket"], "INC-20261128/7");
  EXPECT_EQ(events[0]["data"]["reason"], good_params()["reason"]);
  EXPECT_EQ(events[0]["data"]["scopes"], json({"diagnose"}));
  EXPECT_EQ(events[0]["data"]["minutes"], 30);
  EXPECT_EQ(events[0]["data"]["engineer"]["name"], "李伟");
  EXPECT_EQ(events[0]["data"]["engineer"]["id"], "E1024");
  EXPECT_EQ(events[0]["data"]["engineer"]["role"], "engineer");
  EXPECT_EQ(events[0]["data"]["peer"], "127.0.0.1:" + std::to_string(c.local_port()));
  auto opened = ledger_lines(agent_.state_dir(), "session.opened");
  ASSERT_EQ(opened.size(), 1U);
  EXPECT_EQ(opened[0]["data"]["session_id"], id);
  EXPECT_EQ(events[0]["prev"], opened[0]["hash"]) << "the record hangs off its ledger line";
  ASSERT_EQ(ledger_lines(agent_.state_dir(), "agent.started").size(), 1U);
  EXPECT_EQ(ledger_lines(agent_.state_dir(), "agent.started")[0]["data"]["pid"], agent_.pid());

  // Nobody approved it: at the next start it is sealed as interrupted.
  c.close();
  restart();
  events = lines_of(events_path(id));
  ASSERT_EQ(events.size(), 2U) << agent_.log();
  EXPECT_EQ(events[1]["type"], "session.interrupted");
  ASSERT_TRUE(fs::exists(agent_.state_dir() + "/records/" + id + "/seal-1.sshsig"));
  auto sealed = ledger_lines(agent_.state_dir(), "session.sealed");
  ASSERT_EQ(sealed.size(), 1U);
  EXPECT_EQ(sealed[0]["data"]["last_seq"], 2);
  EXPECT_EQ(ledger_lines(agent_.state_dir(), "agent.started").size(), 2U);

  // By hand, as DESIGN.md "Service records" says: stock ssh-keygen checks the
  // seal over the message rebuilt from the chain, and refuses a changed one.
  auto pub = run(
      {RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "fingerprint", "--seal", "--public"});
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  std::istringstream words(pub.out);
  std::string type;
  std::string blob;
  words >> type >> blob;
  write_file(dir_ / "allowed_signers", "rdiag-seal " + type + " " + blob + "\n");
  const std::string message =
      "rdiag-seal-v1\n" + id + "\n2\n" + events[1]["hash"].get<std::string>() + "\n";
  const std::vector<std::string> verify = {
      "ssh-keygen",
      "-Y",
      "verify",
      "-n",
      "rdiag-seal-v1@rdiag",
      "-f",
      dir_ / "allowed_signers",
      "-I",
      "rdiag-seal",
      "-s",
      agent_.state_dir() + "/records/" + id + "/seal-1.sshsig"};
  ProcOptions opts;
  opts.stdin_data = message;
  auto good = run(verify, opts);
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
  EXPECT_NE(good.out.find("Good \"rdiag-seal-v1@rdiag\" signature"), std::string::npos) << good.out;
  opts.stdin_data[opts.stdin_data.size() - 2] ^= 0x01;  // one byte of last_hash
  auto bad = run(verify, opts);
  EXPECT_NE(bad.exit_code, 0) << bad.out;

  auto v = verify_all(agent_.state_dir());
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

TEST_F(RecordsAgent, FailedAuthenticationIsALedgerLine) {
  start();
  Key stranger = make_key(dir_.path(), "stranger");
  RpcClient c;  // libssh signs at once, without asking first as OpenSSH does
  EXPECT_FALSE(c.connect(agent_.port(), stranger.path));
  EXPECT_TRUE(c.auth_denied()) << c.error();
  auto failed = ledger_lines(agent_.state_dir(), "auth.failed");
  ASSERT_EQ(failed.size(), 1U) << "one line per attempt; " << agent_.log();
  EXPECT_EQ(failed[0]["data"]["fingerprint"], stranger.fingerprint);
  EXPECT_EQ(failed[0]["data"]["reason"], "unknown_key");
  EXPECT_EQ(failed[0]["data"]["peer"], "127.0.0.1:" + std::to_string(c.local_port()));
  EXPECT_EQ(failed[0]["actor"], "agent");
  // The log line stays for journald.
  EXPECT_NE(agent_.log().find(stranger.fingerprint), std::string::npos);
  auto v = verify_all(agent_.state_dir());
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

TEST_F(RecordsAgent, InvalidParamsNameTheFieldAndRecordNothing) {
  start();
  RpcClient c;
  connect(c, alice_);
  auto with = [](const std::string& key, const json& value) {
    json p = good_params();
    p[key] = value;
    return p;
  };
  auto without = [](const std::string& key) {
    json p = good_params();
    p.erase(key);
    return p;
  };
  const std::vector<std::pair<json, std::string>> cases = {
      {without("ticket"), "ticket"},
      {with("ticket", "-starts-with-dash"), "ticket"},
      {with("ticket", "INC 1"), "ticket"},
      {with("ticket", std::string(65, 'A')), "ticket"},
      {with("ticket", 7), "ticket"},
      {without("reason"), "reason"},
      {with("reason", ""), "reason"},
      {with("reason", "   "), "reason"},
      {with("reason", std::string(501, 'x')), "reason"},
      {without("scopes"), "scopes"},
      {with("scopes", json::array()), "scopes"},
      {with("scopes", {"root"}), "scopes"},
      {with("scopes", {"shell", "shell"}), "scopes"},
      {with("scopes", "diagnose"), "scopes"},
      {without("minutes"), "minutes"},
      {with("minutes", 0), "minutes"},
      {with("minutes", 1441), "minutes"},
      {with("minutes", 30.5), "minutes"},
      {with("minutes", "30"), "minutes"},
      {with("code", "12"), "code"},
      {with("colour", "blue"), "colour"},
      {json::array({"INC-1"}), ""},
  };
  for (const auto& [params, field] : cases) {
    const json a = call(c, "session.request", params);
    EXPECT_EQ(code_of(a), -32602) << params.dump() << " -> " << a.dump();
    EXPECT_EQ(reason_of(a), "invalid_params") << a.dump();
    const std::string named = field.empty() ? "params" : "'" + field + "'";
    EXPECT_NE(message_of(a).find(named), std::string::npos)
        << "the message names " << named << ": " << a.dump();
  }
  EXPECT_TRUE(session_ids(agent_.state_dir()).empty());
  EXPECT_TRUE(ledger_lines(agent_.state_dir(), "session.opened").empty());

  // The limits themselves are allowed: 64-character ticket, 500 characters of
  // Chinese (1500 bytes), 1440 minutes (the grant is then bounded by
  // policy.max_grant_minutes), every scope once.
  json edge = good_params();
  edge["ticket"] = "A" + std::string(63, '9');
  std::string reason;
  for (int i = 0; i < 500; ++i) reason += "慢";
  edge["reason"] = reason;
  edge["minutes"] = 1440;
  edge["scopes"] = {"diagnose", "shell", "transfer", "fix"};
  const json ok = call(c, "session.request", edge);
  EXPECT_TRUE(ok.contains("result")) << ok.dump();
  edge["reason"] = reason + "慢";
  const json too_long = call(c, "session.request", edge);
  EXPECT_NE(message_of(too_long).find("501"), std::string::npos) << too_long.dump();
}

TEST_F(RecordsAgent, MessagesFollowTheAgentsLanguage) {
  start({{"LANG", "zh_CN.UTF-8"}});
  RpcClient c;
  connect(c, alice_);
  json p = good_params();
  p["minutes"] = 0;
  const json a = call(c, "session.request", p);
  EXPECT_EQ(code_of(a), -32602);
  EXPECT_NE(message_of(a).find("“minutes”必须是"), std::string::npos) << a.dump();
}

TEST_F(RecordsAgent, ChineseTextIsRecordedExactlyAndBytesThatAreNotUtf8AreRefused) {
  start();
  RpcClient c;
  connect(c, alice_);
  // CJK, an emoji, a combining accent, an escape character: any Unicode.
  const std::string text = "用友 U8 月结报表慢 🐢 e\xCC\x81 \x1b[31m";
  json p = good_params();
  p["reason"] = text;
  json a = call(c, "session.request", p);
  ASSERT_TRUE(a.contains("result")) << a.dump();
  const std::string id = a["result"]["request_id"];
  EXPECT_EQ(lines_of(events_path(id))[0]["data"]["reason"], text);

  // GB18030 bytes (what a Windows terminal in China sends for 报表) are not
  // UTF-8: the JSON-RPC framing refuses the line, nothing is recorded, and
  // the connection stays usable.
  const std::string gb18030 = "\xB1\xA8\xB1\xED";
  std::string line = good_params().dump();
  const std::string marker = "需要查看日志";
  line.replace(line.find(marker), marker.size(), gb18030);
  ASSERT_TRUE(
      c.write(R"({"jsonrpc":"2.0","id":"gb","method":"session.request","params":)" + line + "}\n"));
  auto answer = c.read_line(milliseconds(10000));
  ASSERT_TRUE(answer.has_value()) << agent_.log();
  EXPECT_EQ(code_of(json::parse(*answer)), -32700) << *answer;
  EXPECT_EQ(session_ids(agent_.state_dir()).size(), 1U);
  // A lone surrogate escape is no character either.
  ASSERT_TRUE(c.write(
      R"({"jsonrpc":"2.0","id":2,"method":"session.request","params":{"ticket":"T","reason":"\ud800","scopes":["fix"],"minutes":5}})"
      "\n"));
  answer = c.read_line(milliseconds(10000));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(code_of(json::parse(*answer)), -32700) << *answer;
  EXPECT_EQ(session_ids(agent_.state_dir()).size(), 1U);

  c.close();
  restart();
  auto v = verify_all(agent_.state_dir());
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_EQ(lines_of(events_path(id))[0]["data"]["reason"], text);
}

TEST_F(RecordsAgent, RecordGetPagesOwnRecordsAndHidesOthers) {
  start();
  const std::string id = request(alice_);
  ASSERT_FALSE(id.empty());
  // A crash that cut a line short: recovery cuts it and records that
  // (record.repaired), then seals the request as interrupted: three events.
  ASSERT_EQ(agent_.stop(), 0);
  { std::ofstream(events_path(id), std::ios::app) << R"({"actor":"agent","data":{"fr)"; }
  start();
  auto stored = raw_lines(events_path(id));
  ASSERT_EQ(stored.size(), 3U) << agent_.log();

  RpcClient c;
  connect(c, alice_);
  std::vector<std::string> got;
  json page_params = {{"session_id", id}, {"limit", 1}};
  int pages = 0;
  for (;;) {
    const json a = call(c, "record.get", page_params);
    ASSERT_TRUE(a.contains("result")) << a.dump();
    const json& r = a["result"];
    ++pages;
    ASSERT_LE(pages, 3);
    EXPECT_EQ(r["session_id"], id);
    EXPECT_EQ(r["last_seq"], 3);
    ASSERT_EQ(r["events"].size(), 1U);
    // Events as stored: re-dumped, each is byte for byte its line.
    got.push_back(r["events"][0].dump());
    ASSERT_EQ(r["seals"].size(), 1U);
    EXPECT_EQ(r["seals"][0]["file"], "seal-1.sshsig");
    EXPECT_EQ(r["seals"][0]["signature"],
              read_file(agent_.state_dir() + "/records/" + id + "/seal-1.sshsig"));
    EXPECT_EQ(r["attachments"], json::array());
    EXPECT_EQ(r["ledger_entry"]["opened"]["type"], "session.opened");
    EXPECT_EQ(r["ledger_entry"]["opened"]["hash"], json::parse(stored[0])["prev"]);
    ASSERT_EQ(r["ledger_entry"]["seals"].size(), 1U);
    EXPECT_EQ(r["ledger_entry"]["seals"][0]["data"]["seal"], "seal-1.sshsig");
    if (!r.contains("next_seq")) break;
    page_params["from_seq"] = r["next_seq"];
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(got, stored);
  EXPECT_EQ(json::parse(stored[1])["type"], "record.repaired");

  // Default page: everything at once, no next_seq.
  const json all = call(c, "record.get", {{"session_id", id}});
  EXPECT_EQ(all["result"]["events"].size(), 3U);
  EXPECT_FALSE(all["result"].contains("next_seq"));

  // Another engineer learns nothing, not even that it exists.
  RpcClient b;
  connect(b, bob_);
  const json theirs = call(b, "record.get", {{"session_id", id}});
  const json unknown = call(b, "record.get", {{"session_id", "20200101-000000-0000"}});
  EXPECT_EQ(code_of(theirs), -32005) << theirs.dump();
  EXPECT_EQ(reason_of(theirs), "not_found");
  EXPECT_EQ(code_of(unknown), -32005);
  // The same sentence for both, but for the id.
  std::string m1 = message_of(theirs);
  std::string m2 = message_of(unknown);
  ASSERT_NE(m1.find(id), std::string::npos) << m1;
  ASSERT_NE(m2.find("20200101-000000-0000"), std::string::npos) << m2;
  EXPECT_EQ(m1.replace(m1.find(id), id.size(), "ID"),
            m2.replace(m2.find("20200101-000000-0000"), id.size(), "ID"));
  const json bad_id = call(b, "record.get", {{"session_id", "../ledger"}});
  EXPECT_EQ(code_of(bad_id), -32602) << bad_id.dump();
  const json bad_limit = call(c, "record.get", {{"session_id", id}, {"limit", 1001}});
  EXPECT_EQ(code_of(bad_limit), -32602);
  EXPECT_NE(message_of(bad_limit).find("'limit'"), std::string::npos);
}

TEST_F(RecordsAgent, RecordThatDoesNotVerifyIsNotSent) {
  start();
  const std::string id = request(alice_);
  restart();  // sealed
  // Change one character of the reason, keeping the line well-formed.
  std::string text = read_file(events_path(id));
  const auto at = text.find("INC-20261128/7");
  ASSERT_NE(at, std::string::npos);
  text[at] = 'X';
  write_file(events_path(id), text, 0600);
  RpcClient c;
  connect(c, alice_);
  const json a = call(c, "record.get", {{"session_id", id}});
  EXPECT_EQ(code_of(a), -32603) << a.dump();
  EXPECT_EQ(reason_of(a), "record_tampered");
  EXPECT_NE(message_of(a).find("line 1"), std::string::npos) << a.dump();
}

TEST_F(RecordsAgent, RefusesToStartOnATamperedLedgerOrOneInUse) {
  start();
  // A second agent on the same state dir: the first holds the ledger.
  write_file(dir_ / "second.json",
             json({{"state_dir", agent_.state_dir()}, {"engineers_file", agent_.engineers_path()}})
                 .dump());
  const std::vector<std::string> second = {RDIAG_AGENT_BIN, "--config", dir_ / "second.json",
                                           "run",           "--listen", "127.0.0.1:0"};
  ProcOptions quick;
  quick.timeout = milliseconds(15000);
  auto busy = run(second, quick);
  EXPECT_EQ(busy.exit_code, 1) << busy.out << busy.err;
  EXPECT_EQ(busy.out.find("listening"), std::string::npos);
  EXPECT_NE(busy.err.find("not starting"), std::string::npos) << busy.err;
  EXPECT_NE(busy.err.find("ledger.jsonl"), std::string::npos) << busy.err;

  // One changed byte in the ledger: the agent will not chain onto it.
  ASSERT_EQ(agent_.stop(), 0);
  const std::string ledger = agent_.state_dir() + "/ledger.jsonl";
  std::string text = read_file(ledger);
  const auto at = text.find("\"pid\":");
  ASSERT_NE(at, std::string::npos);
  text[at + 6] = text[at + 6] == '9' ? '8' : '9';
  write_file(ledger, text, 0600);
  auto tampered = run(second, quick);
  EXPECT_EQ(tampered.exit_code, 1) << tampered.out << tampered.err;
  EXPECT_EQ(tampered.out.find("listening"), std::string::npos);
  EXPECT_NE(tampered.err.find("records verify --all"), std::string::npos) << tampered.err;
  EXPECT_EQ(read_file(ledger), text) << "nothing was changed";
}

// ---------------------------------------------------------------------------
// A state directory whose records area is full, then read-only: a small tmpfs
// mounted over <state_dir>/records.

class RecordsDisk : public RecordsAgent {
 protected:
  void SetUp() override {
    RecordsAgent::SetUp();
    records_ = agent_.state_dir() + "/records";
    ASSERT_EQ(::mkdir(agent_.state_dir().c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(records_.c_str(), 0700), 0);
    if (::mount("tmpfs", records_.c_str(), "tmpfs", 0, "size=256k,mode=0700") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                   << "); needs root and CAP_SYS_ADMIN";
    }
    mounted_ = true;
  }
  void TearDown() override {
    agent_.stop();  // nothing may hold a file on the tmpfs
    if (ro_bind_ && ::umount(records_.c_str()) != 0) ::umount2(records_.c_str(), MNT_DETACH);
    if (mounted_ && ::umount(records_.c_str()) != 0) ::umount2(records_.c_str(), MNT_DETACH);
  }
  // A read-only bind mount over the tmpfs: remounting the tmpfs itself
  // read-only is refused (EBUSY) while the agent holds a record open for
  // writing, but new files and folders through the path get EROFS.
  void make_read_only() {
    ASSERT_EQ(::mount(records_.c_str(), records_.c_str(), nullptr, MS_BIND, nullptr), 0)
        << std::strerror(errno);
    ro_bind_ = true;
    ASSERT_EQ(
        ::mount(nullptr, records_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr), 0)
        << std::strerror(errno);
  }
  void make_writable() {
    ASSERT_EQ(::umount(records_.c_str()), 0) << std::strerror(errno);
    ro_bind_ = false;
  }
  // Fills the tmpfs to the last byte.
  void fill() {
    std::ofstream f(records_ + "/.filler", std::ios::binary);
    const std::string chunk(4096, 'x');
    for (int i = 0; i < 1024 && f.write(chunk.data(), std::streamsize{4096}); ++i) {
    }
  }
  void unfill() { fs::remove(records_ + "/.filler"); }
  void expect_refused(RpcClient& c) {
    const auto before = session_ids(agent_.state_dir());
    const json a = call(c, "session.request", good_params());
    EXPECT_EQ(code_of(a), -32008) << a.dump() << agent_.log();
    EXPECT_EQ(reason_of(a), "recording_failed");
    EXPECT_FALSE(a.contains("result"));
    EXPECT_NE(message_of(a).find("nothing was done"), std::string::npos) << a.dump();
    EXPECT_EQ(session_ids(agent_.state_dir()), before) << "no session is left behind";
  }
  void expect_store_verifies() {
    c_.close();
    unfill();
    restart();
    auto v = verify_all(agent_.state_dir());
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  }

  std::string records_;
  bool mounted_ = false;
  bool ro_bind_ = false;
  RpcClient c_;
};

TEST_F(RecordsDisk, FullRecordsAreaRefusesTheRequestAndRecovers) {
  start();
  connect(c_, alice_);
  const json first = call(c_, "session.request", good_params());
  ASSERT_TRUE(first.contains("result")) << first.dump();
  fill();
  expect_refused(c_);
  // The ledger explains the gap: the opened session is void, never acknowledged.
  auto voided = ledger_lines(agent_.state_dir(), "session.void");
  ASSERT_EQ(voided.size(), 1U);
  EXPECT_NE(agent_.log().find("could not be written"), std::string::npos) << agent_.log();
  unfill();
  const json again = call(c_, "session.request", good_params());
  EXPECT_TRUE(again.contains("result")) << "space is back, so are requests: " << again.dump();
  expect_store_verifies();
}

TEST_F(RecordsDisk, ReadOnlyRecordsAreaRefusesTheRequest) {
  start();
  connect(c_, alice_);
  const json first = call(c_, "session.request", good_params());
  ASSERT_TRUE(first.contains("result")) << first.dump();
  make_read_only();
  expect_refused(c_);
  make_writable();
  const json again = call(c_, "session.request", good_params());
  EXPECT_TRUE(again.contains("result")) << again.dump();
  expect_store_verifies();
}

}  // namespace
}  // namespace rdiag::test
