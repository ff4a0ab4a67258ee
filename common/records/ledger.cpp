#include "common/records/ledger.h"

#include <algorithm>
#include <array>
#include <ctime>
#include <optional>

#include "common/records/chain.h"

namespace rdiag::records {
namespace {

constexpr std::array<std::string_view, 10> kLedgerTypes = {
    "agent.started", "session.opened", "session.sealed", "session.void",    "session.pruned",
    "checkpoint",    "key.rotated",    "auth.failed",    "control.refused", "record.repaired",
};

constexpr std::array<std::string_view, 6> kTerminalTypes = {
    "request.denied", "request.expired", "session.closed",
    "grant.revoked",  "grant.expired",   "session.interrupted",
};

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_seal_name(std::string_view name) {
  constexpr std::string_view kPrefix = "seal-";
  constexpr std::string_view kSuffix = ".sshsig";
  if (name.size() <= kPrefix.size() + kSuffix.size()) return false;
  if (name.substr(0, kPrefix.size()) != kPrefix) return false;
  if (name.substr(name.size() - kSuffix.size()) != kSuffix) return false;
  const auto n = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  return n.size() <= 9 && all_digits(n) && n[0] != '0';
}

// The typed fields a ledger line's data must hold.
struct Fields {
  const nlohmann::json& data;
  bool ok = true;

  std::string str(const char* key) {
    auto it = data.find(key);
    if (it == data.end() || !it->is_string()) {
      ok = false;
      return {};
    }
    return it->get<std::string>();
  }
  std::int64_t num(const char* key, std::int64_t min) {
    auto it = data.find(key);
    if (it == data.end() || !it->is_number_integer() || it->get<std::int64_t>() < min) {
      ok = false;
      return 0;
    }
    return it->get<std::int64_t>();
  }
  std::string hex(const char* key) {
    std::string s = str(key);
    if (!is_hex_digest(s)) ok = false;
    return s;
  }
  std::string session(const char* key) {
    std::string s = str(key);
    if (!is_valid_session_id(s)) ok = false;
    return s;
  }
};

Error line_error(std::size_t line, const std::string& what, std::string reason) {
  return Error{"ledger.jsonl line " + std::to_string(line) + ": " + what, std::move(reason)};
}

// Applies one verified line to the index; an error names the line.
Result<void> apply(LedgerIndex& index, const Event& e, std::size_t line) {
  Fields f{e.data};
  auto bad_data = [&] {
    return line_error(line, e.type + " has missing or bad fields", "bad_ledger_data");
  };
  auto session_of = [&](const std::string& id) -> LedgerSession* {
    auto it = index.sessions.find(id);
    return it == index.sessions.end() ? nullptr : &it->second;
  };
  auto unknown = [&](const std::string& id) {
    return line_error(line, e.type + " names session " + id + ", which the ledger never opened",
                      "unknown_session");
  };
  if (e.type == "session.opened") {
    LedgerSession s;
    s.session_id = f.session("session_id");
    s.engineer = f.str("engineer");
    if (!f.ok) return bad_data();
    if (index.sessions.contains(s.session_id)) {
      return line_error(line, "session " + s.session_id + " is opened a second time",
                        "duplicate_session");
    }
    s.genesis = e.hash;
    s.opened_line = line;
    s.opened_ts = e.ts;
    index.sessions.emplace(s.session_id, std::move(s));
  } else if (e.type == "session.sealed") {
    const std::string id = f.session("session_id");
    LedgerSession::Seal seal;
    seal.file = f.str("seal");
    seal.last_seq = f.num("last_seq", 1);
    seal.last_hash = f.hex("last_hash");
    seal.bytes = f.num("bytes", 1);
    seal.sha256 = f.hex("sha256");
    seal.line = line;
    if (!f.ok || !is_seal_name(seal.file)) return bad_data();
    LedgerSession* s = session_of(id);
    if (s == nullptr) return unknown(id);
    s->seals.push_back(std::move(seal));
  } else if (e.type == "session.void" || e.type == "session.pruned") {
    const std::string id = f.session("session_id");
    if (e.type == "session.pruned") {
      (void)f.num("last_seq", 1);
      (void)f.hex("last_hash");
      (void)f.num("seals", 1);
    } else {
      (void)f.str("reason");
    }
    if (!f.ok) return bad_data();
    LedgerSession* s = session_of(id);
    if (s == nullptr) return unknown(id);
    if (e.type == "session.void") {
      s->voided = true;
    } else {
      s->pruned = true;
      s->pruned_line = line;
    }
  } else if (e.type == "checkpoint") {
    const std::int64_t covers = f.num("covers_seq", 0);
    const std::string covers_hash = f.hex("covers_hash");
    (void)f.str("fingerprint");
    (void)f.str("signature");
    if (!f.ok) return bad_data();
    if (covers != e.seq - 1 || covers_hash != e.prev) {
      return line_error(line, "checkpoint does not cover the line before it", "bad_checkpoint");
    }
  } else if (e.type == "key.rotated") {
    KeyRotation r;
    r.old_fingerprint = f.str("old_fingerprint");
    r.old_public = f.str("old_public");
    r.new_fingerprint = f.str("new_fingerprint");
    r.new_public = f.str("new_public");
    r.signature = f.str("signature");
    r.line = line;
    if (!f.ok) return bad_data();
    index.rotations.push_back(std::move(r));
  }
  return {};
}

}  // namespace

bool is_ledger_type(std::string_view type) {
  return std::find(kLedgerTypes.begin(), kLedgerTypes.end(), type) != kLedgerTypes.end();
}

bool is_terminal_event_type(std::string_view type) {
  return std::find(kTerminalTypes.begin(), kTerminalTypes.end(), type) != kTerminalTypes.end();
}

bool ends_session(std::string_view type, const nlohmann::json& data) {
  if (!is_terminal_event_type(type)) return false;
  if (type != "request.denied" && type != "request.expired") return true;
  const auto kind = data.is_object() ? data.find("kind") : data.end();
  if (!data.is_object() || kind == data.end() || !kind->is_string()) return true;
  return *kind != "extend" && *kind != "join";
}

bool line_ends_session(std::string_view type, std::string_view line) {
  if (!is_terminal_event_type(type)) return false;
  if (type != "request.denied" && type != "request.expired") return true;
  auto doc = nlohmann::json::parse(line, nullptr, false);
  if (!doc.is_object() || !doc.contains("data")) return true;
  return ends_session(type, doc["data"]);
}

bool is_valid_session_id(std::string_view id) {
  // YYYYMMDD-HHMMSS-xxxx
  if (id.size() != 20 || id[8] != '-' || id[15] != '-') return false;
  const auto date = id.substr(0, 8);
  const auto time = id.substr(9, 6);
  if (!all_digits(date) || !all_digits(time)) return false;
  const std::string ts = std::string(date.substr(0, 4)) + "-" + std::string(date.substr(4, 2)) +
                         "-" + std::string(date.substr(6, 2)) + "T" +
                         std::string(time.substr(0, 2)) + ":" + std::string(time.substr(2, 2)) +
                         ":" + std::string(time.substr(4, 2)) + ".000Z";
  if (!is_valid_ts(ts)) return false;
  const auto tail = id.substr(16);
  return std::all_of(tail.begin(), tail.end(),
                     [](char c) { return kCrockford.find(c) != std::string_view::npos; });
}

std::string make_session_id(std::chrono::system_clock::time_point tp, std::uint32_t random) {
  const std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  (void)::gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y%m%d-%H%M%S-", &tm);
  std::string id(buf.data(), n);
  for (int shift = 15; shift >= 0; shift -= 5) {
    id += kCrockford[(random >> static_cast<unsigned>(shift)) & 31U];
  }
  return id;
}

std::string checkpoint_message(std::string_view id, std::int64_t covers_seq,
                               std::string_view covers_hash) {
  std::string m = "rdiag-seal-v1\n";
  m.append(id).append("\n").append(std::to_string(covers_seq)).append("\n");
  m.append(covers_hash).append("\n");
  return m;
}

std::string key_rotation_message(std::string_view old_fingerprint,
                                 std::string_view new_fingerprint) {
  std::string m = "rdiag-key-rotated-v1\n";
  m.append(old_fingerprint).append("\n").append(new_fingerprint).append("\n");
  return m;
}

Result<LedgerIndex> index_ledger(std::string_view jsonl_text) {
  const ChainCheck chain = verify_chain(jsonl_text, kLedgerGenesis, is_ledger_type);
  if (!chain.ok) return make_error("ledger.jsonl " + chain.message, chain.reason);
  LedgerIndex index;
  index.last_hash = std::string(kLedgerGenesis);
  std::optional<Error> failure;
  for_each_line(jsonl_text, [&](std::size_t line_no, std::string_view line, std::size_t) {
    auto event = parse_event_line(line, is_ledger_type);
    if (!event) {
      failure = line_error(line_no, event.error().message, event.error().reason);
      return false;
    }
    if (auto r = apply(index, *event, line_no); !r) {
      failure = r.error();
      return false;
    }
    index.last_seq = event->seq;
    index.last_hash = event->hash;
    if (event->type == "checkpoint") {
      index.lines_since_checkpoint = 0;
      index.last_checkpoint_ts = event->ts;
      index.last_checkpoint_seq = event->seq;
    } else {
      ++index.lines_since_checkpoint;
    }
    return true;
  });
  if (failure) return *failure;
  return index;
}

}  // namespace rdiag::records
