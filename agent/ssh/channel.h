// One SSH session channel inside the connection process: the rdiag-v1
// JSON-RPC door, or a door (shell, exec, sftp) that the monitor must allow
// first and that this version then refuses with a message the user can read.
//
// Requests go to the monitor one at a time for the whole connection
// (MonitorClient::busy): while one is in flight, request bytes wait here and
// then in libssh's buffer, so the client meets SSH window backpressure rather
// than our memory growing. Answers on a channel keep the order of its requests.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <string>
#include <string_view>

#include "agent/ssh/monitor_client.h"
#include "common/jsonrpc.h"

namespace rdiag::agent {

class Channel {
 public:
  Channel(ssh_session session, MonitorClient& monitor, std::size_t max_request_bytes);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  ssh_channel handle() const { return ch_; }
  // Starts the next request when the monitor is free, writes what is pending
  // as far as the peer's window allows, and closes the channel once the peer
  // sent EOF and every request was answered.
  void pump();
  bool finished() const;

  // A JSON-RPC notification line for rdiag-v1 channels (others ignore it).
  void notify(std::string_view line);
  // The grant ended: take no more requests. close_now() then closes with
  // exit status 1 (no message: the notification said why).
  void stop_requests() { ending_ = true; }
  bool output_flushed() const { return out_.empty() || mode_ != Mode::kRpc; }
  void close_now();

 private:
  enum class Mode { kNone, kRpc, kDoor, kRefused };

  void install_callbacks();
  int on_data(const char* data, std::size_t len);
  int on_subsystem(std::string_view name);
  int on_env(std::string_view name);
  int on_door(const char* door);
  void ask_door();
  void on_door_answer(const nlohmann::json& answer);
  void refuse(const std::string& message);
  void pull_held_input();
  void drain_requests();
  void handle_line(std::string_view line);
  void dispatch(const rpc::Request& req);
  void write_output();
  bool idle() const;
  void finish(int exit_status);

  ssh_channel ch_;
  MonitorClient& monitor_;
  ssh_channel_callbacks_struct cb_{};
  Mode mode_ = Mode::kNone;
  rpc::LineAssembler lines_;
  std::string in_;                     // request bytes taken from libssh, not yet split into lines
  std::size_t held_ = 0;               // bytes libssh still holds for us (on_data took fewer)
  MonitorClient::Ticket waiting_ = 0;  // the monitor request this channel awaits
  std::string door_;                   // kDoor: "shell", "exec" or "sftp"
  std::string out_;                    // answers not yet written (bounded by kMaxPendingOut)
  std::string stderr_;                 // the refusal text, for refused doors
  bool eof_in_ = false;
  bool ending_ = false;
  bool done_ = false;
};

}  // namespace rdiag::agent
