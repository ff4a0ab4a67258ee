// One SSH session channel inside the connection process: the rdiag-v1
// JSON-RPC door, or a door that is refused with a message the user can read.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <string>
#include <string_view>

#include "common/jsonrpc.h"

namespace rdiag::agent {

class MonitorClient;

class Channel {
 public:
  Channel(ssh_session session, MonitorClient& monitor, std::size_t max_request_bytes);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  ssh_channel handle() const { return ch_; }
  // Writes what is pending as far as the peer's window allows; closes the
  // channel once the peer sent EOF and every answer went out.
  void pump();
  bool finished() const;

 private:
  enum class Mode { kNone, kRpc, kRefused };

  void install_callbacks();
  int on_data(const char* data, std::size_t len);
  int on_subsystem(std::string_view name);
  int on_env(std::string_view name);
  void refuse(std::string message);
  void handle_line(std::string_view line);
  std::string dispatch(const rpc::Request& req);
  void finish(int exit_status);

  ssh_channel ch_;
  MonitorClient& monitor_;
  ssh_channel_callbacks_struct cb_{};
  Mode mode_ = Mode::kNone;
  rpc::LineAssembler lines_;
  std::string out_;     // answers not yet written (bounded by kMaxPendingOut)
  std::string stderr_;  // the refusal text, for refused doors
  bool eof_in_ = false;
  bool done_ = false;
};

}  // namespace rdiag::agent
