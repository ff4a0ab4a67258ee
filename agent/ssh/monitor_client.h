// Client stubs for the monitor's closed list of requests (agent/monitor_proto.h).
//
// Two ways to ask. Before authentication the stubs block for their answer
// (libssh wants the verdict inside its callback). After it, requests are
// asynchronous: mm_agent_info / mm_call / mm_door send the frame and return,
// and the event loop calls on_readable() when the socket is readable, which
// hands the answer to whoever asked. Meanwhile the connection keeps serving
// SSH: the answer to session.wait may come a minute later.
//
// At most one request is in flight per connection (the monitor kills a
// process that sends a second), so callers check busy() first. kNotify frames
// may arrive at any time, also between a request and its answer; they go to
// the notify sink.
//
// Any failure (hang-up, malformed frame, a frame nobody asked for) ends the
// process with exit code 70: a connection that cannot trust its monitor
// must not go on alone.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/monitor_proto.h"

namespace rdiag::agent {

class MonitorClient {
 public:
  // The answer body as it came: {"result": ...} or {"error": {...}} for
  // kCall, the info object or {"error": ...} for kAgentInfo, {} or
  // {"error": ...} for kDoor.
  using AnswerFn = std::function<void(nlohmann::json answer)>;
  // A kNotify body, checked: {"method": non-empty string, "params"?, "end"?: bool}.
  using NotifyFn = std::function<void(const nlohmann::json& notification)>;
  // Names one asynchronous request; 0 is none.
  using Ticket = std::uint64_t;

  explicit MonitorClient(int fd) : fd_(fd) {}
  int fd() const { return fd_; }
  void set_notify_sink(NotifyFn sink) { notify_ = std::move(sink); }

  Result<nlohmann::json> recv_init() const;

  // Blocking stubs, for authentication (nothing may be in flight).
  bool mm_key_allowed(const std::string& key_b64);
  void mm_auth_failed(const std::string& key_b64, const std::string& why);
  // The engineer's identity ({fingerprint, name, role, id}) or an error.
  Result<nlohmann::json> mm_auth_succeeded(const std::string& key_b64, const std::string& user);

  // Asynchronous stubs: only when !busy(). on_answer runs from on_readable().
  Ticket mm_agent_info(AnswerFn on_answer);
  // Any other JSON-RPC method.
  Ticket mm_call(const std::string& method, const nlohmann::json& params, AnswerFn on_answer);
  // May this connection open a door? door is "shell", "exec" or "sftp".
  Ticket mm_door(const std::string& door, AnswerFn on_answer);

  bool busy() const { return in_flight_.type != 0; }
  // The asker is gone: its answer is read and dropped when it comes (the
  // connection stays busy until then, the monitor still owes it).
  void forget(Ticket ticket);

  // Reads what the socket holds without blocking, and delivers every whole
  // frame: the awaited answer to its asker, notifications to the sink.
  void on_readable();

 private:
  struct InFlight {
    std::uint8_t type = 0;  // the request's type; its answer is type | kAnswerBit
    Ticket ticket = 0;
    AnswerFn on_answer;
  };

  Ticket start(MonType type, const nlohmann::json& body, AnswerFn on_answer);
  // One request, its answer body (or the end of this process).
  nlohmann::json exchange(MonType type, const nlohmann::json& body);
  Result<nlohmann::json> call(MonType type, const nlohmann::json& body);
  void send(MonType type, const nlohmann::json& body) const;
  // Appends what one read returns; false when it would block.
  bool read_some(bool blocking);
  // Moves every whole frame out of rbuf_ (ends the process on a bad one).
  std::vector<MonMessage> take_frames();
  void deliver(MonMessage& msg);
  void notify(const nlohmann::json& body);

  int fd_;
  std::string rbuf_;  // bytes read, not yet a whole frame
  InFlight in_flight_;
  Ticket next_ticket_ = 1;
  NotifyFn notify_;
};

}  // namespace rdiag::agent
