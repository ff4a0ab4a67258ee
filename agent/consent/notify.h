// The notify_command runner (DESIGN.md "Agent configuration", "Requests,
// grants, approval"): for each new request the monitor starts customer IT's
// command, e.g. ["/usr/local/bin/notify-it", "--request", "{request_id}"],
// so that someone knows there is a request to approve.
//
// The monitor is one poll loop that must never block, so a run is fork +
// exec and nothing else; poll() (every 250 ms) reaps the runs that ended,
// kills those past their deadline and hands back what happened, which the
// monitor records as notify.failed when it went wrong.
//
// Rules, and the choices this module makes where DESIGN.md is silent:
// - argv only, never a shell. Placeholders are replaced inside each element
//   ("--id={request_id}"), in one pass (a value that contains "{ticket}"
//   stays as it is), and a value never splits into two elements. Values are
//   made valid UTF-8 and lose NUL bytes; checking them (the ticket pattern,
//   ...) is the monitor's job.
// - The program path is fixed: absolute and without placeholders.
// - As root, the command runs as the `rdiag` account with that account's
//   groups; when the account is missing (or is root itself) it is not run at
//   all. Not root (dev mode): as the agent's own user.
// - No no_new_privs: mail tools such as Postfix's sendmail need their setgid
//   helper to deliver.
// - The child gets fds 0-2 only (stdin and stdout /dev/null, stderr a pipe
//   whose first KiB ends up in the outcome), PATH plus the agent's LANG and
//   LC_ALL, cwd "/", default signal handling and its own process group: the
//   timeout kills the group with SIGKILL. A run that ends in time keeps what
//   it left running in the background (a mailer finishing its delivery).
// - Only its own pids are waited for (waitpid(pid, WNOHANG)); no signal
//   handler is installed.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/result.h"

namespace rdiag::agent {

inline constexpr std::chrono::milliseconds kNotifyTimeout{10000};
inline constexpr std::size_t kMaxNotifyRuns = 8;
inline constexpr std::size_t kNotifyStderrBytes = 1024;
inline constexpr std::string_view kNotifyAccount = "rdiag";
// The names start() takes, written {name} in the command.
inline constexpr std::string_view kNotifyPlaceholders[] = {
    "request_id", "ticket", "engineer", "engineer_id", "scopes", "minutes", "kind"};

struct NotifyOutcome {
  std::string tag;  // as given to start()
  bool ok = false;  // exit status 0
  // Empty when ok; else what went wrong ("exit status 3", "killed after 10 s
  // timeout", "could not start /x: No such file or directory", "signal 9
  // (KILL)", "too many notify runs still going ...") followed by the first
  // KiB of the command's stderr, valid UTF-8, in the agent's language.
  std::string why;
};

struct NotifyOptions {
  std::chrono::milliseconds timeout = kNotifyTimeout;
  // The account the command runs as when the agent runs as root.
  std::string account = std::string(kNotifyAccount);
};

struct NotifyRun;  // one started run; defined in notify.cpp

class Notifier {
 public:
  // From cfg.raw["notify_command"]; absent or null: nullopt (no
  // notifications). An error names the config file, the key and the fix.
  static Result<std::optional<Notifier>> from_config(const AgentConfig& cfg,
                                                     NotifyOptions options = {});

  Notifier(Notifier&& other) noexcept;
  Notifier& operator=(Notifier&& other) noexcept;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  // Kills (SIGKILL, whole group) and reaps the runs still going.
  ~Notifier();

  // Starts one run with values substituted (keys without braces: "ticket");
  // a placeholder without a value becomes "". Never blocks. A run that is
  // refused (too many running, no account to run as) is not an error here:
  // its failed outcome comes from the next poll(). The error is for the
  // system refusing a pipe or a fork.
  Result<void> start(const std::map<std::string, std::string>& values, std::string tag);

  // Outcomes of the runs that ended (and of refused starts) since the last
  // call; kills the runs past the timeout. Call every 250 ms or so.
  std::vector<NotifyOutcome> poll();

  // Runs started and not yet reaped.
  std::size_t running() const;

 private:
  Notifier(std::vector<std::string> argv, NotifyOptions options);
  void refuse(std::string tag, std::string why);
  void kill_all();

  std::vector<std::string> argv_;  // validated, placeholders still in
  NotifyOptions options_;
  std::vector<std::unique_ptr<NotifyRun>> runs_;
  std::vector<NotifyOutcome> refused_;
};

}  // namespace rdiag::agent
