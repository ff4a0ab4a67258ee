#include "agent/bundle/collect_cli.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "agent/bundle/bundle.h"
#include "agent/records/cli.h"
#include "agent/rpc_diag.h"
#include "agent/worker/jobs.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent::bundle {
namespace {

using nlohmann::json;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kPollMs = 250;  // as the listener: Jobs::sweep() wants a call this often

int fail(const std::string& message, int code = kExitFailed) {
  std::cerr << "rdiag-agent: " << message << "\n";
  return code;
}

// Checked before the diagnosis runs, so a typo costs no minutes of waiting.
Result<std::string> check_out(const std::string& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path = fs::absolute(out, ec).lexically_normal();
  const fs::path parent = path.parent_path();
  struct stat st {};
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error(i18n::tr("agent.bundle.out_no_dir", parent.string()));
  }
  if (::lstat(path.c_str(), &st) == 0) {
    return make_error(i18n::tr("agent.bundle.out_exists", path.string()));
  }
  return path.string();
}

std::string progress_line(const json& p) {
  std::string line = i18n::tr("agent.bundle.progress", terminal_safe(p.value("stage", "")));
  if (p.contains("done") && p.contains("total")) {
    line += " " + p["done"].dump() + "/" + p["total"].dump();
  }
  return line;
}

// Runs job in a collector worker and waits for it; the worker's own
// deadline (JobOptions) bounds the wait.
Result<json> run_worker_job(const json& job, bool terminal) {
  Jobs jobs;
  auto id = jobs.start(job);
  if (!id) return id.error();
  bool drawn = false;
  for (;;) {
    std::vector<pollfd> fds;
    const std::size_t n = jobs.add_poll_fds(fds);
    if (n > 0) (void)::poll(fds.data(), fds.size(), kPollMs);
    jobs.on_poll(fds, 0, n);
    jobs.sweep();
    for (const JobProgress& p : jobs.take_progress()) {
      // Redrawn in place on a terminal; one line each in a log or a pipe.
      std::cerr << (terminal ? "\r\x1b[K" : "") << progress_line(p.progress)
                << (terminal ? "" : "\n") << std::flush;
      drawn = terminal;
    }
    for (JobDone& d : jobs.take_done()) {
      if (drawn) std::cerr << "\r\x1b[K" << std::flush;
      return std::move(d.result);
    }
    if (jobs.running() == 0 && n == 0) {
      return make_error(i18n::tr("agent.worker.bad_line"), "worker_output");
    }
  }
}

}  // namespace

struct CollectCommand::Options {
  CLI::App* sub = nullptr;
  std::string out;
  std::string since;
};

CollectCommand::CollectCommand(CLI::App& app) : o_(std::make_unique<Options>()) {
  o_->sub = app.add_subcommand("collect", i18n::tr("agent.bundle.collect_about"));
  o_->sub->add_option("--out", o_->out, i18n::tr("agent.bundle.opt_out"))
      ->required()
      ->type_name("FILE.tar.gz");
  o_->sub->add_option("--since", o_->since, i18n::tr("agent.bundle.opt_since"))->type_name("D");
}

CollectCommand::~CollectCommand() = default;

bool CollectCommand::parsed() const {
  return o_->sub->parsed();
}

int CollectCommand::run(const std::function<Result<AgentConfig>()>& resolve, bool json_out) const {
  auto out = check_out(o_->out);
  if (!out) return fail(out.error().message);
  auto cfg = resolve();
  if (!cfg) return fail(cfg.error().message);
  // The key first: a diagnosis that cannot be signed is not worth waiting for.
  auto key = load_seal_key(cfg->state_dir);
  if (!key) return fail(key.error().message);
  json params = json::object();
  if (!o_->since.empty()) params["since"] = o_->since;
  json error;
  auto job = make_diag_job(*cfg, params, &error);
  // Only --since can be wrong here: a usage error.
  if (!job) return fail(error.value("message", ""), kExitUsage);
  auto report = run_worker_job(*job, ::isatty(STDERR_FILENO) == 1);
  if (!report) return fail(i18n::tr("agent.bundle.diag_failed", report.error().message));
  auto written = write(*out, contents_for(std::move(*report), {}), *key);
  if (!written) return fail(written.error().message);
  if (json_out) {
    std::cout << json{{"file", written->path}, {"size", written->size}, {"sha256", written->sha256}}
                     .dump()
              << "\n";
  } else {
    std::cout << i18n::tr("agent.bundle.written", written->path, written->size, written->sha256)
              << "\n";
  }
  return 0;
}

}  // namespace rdiag::agent::bundle
