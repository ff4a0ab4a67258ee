#include "agent/cli.h"

#include <linux/close_range.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "agent/bundle/collect_cli.h"
#include "agent/consent/consent.h"
#include "agent/consent/notify.h"
#include "agent/consent/policy.h"
#include "agent/control/admin_cli.h"
#include "agent/control/server.h"
#include "agent/keys.h"
#include "agent/listener.h"
#include "agent/log.h"
#include "agent/monitor.h"
#include "agent/records/cli.h"
#include "agent/records/store.h"
#include "agent/ssh/privsep.h"
#include "common/config.h"
#include "common/engineers.h"
#include "common/version.h"

namespace rdiag::agent {
namespace {

constexpr const char* kDefaultConfig = "/etc/rdiag/agent.json";
constexpr const char* kDefaultEngineers = "/etc/rdiag/engineers";

struct Globals {
  std::string config;
  std::string state_dir;
  std::string control_socket;
  std::string lang;
  bool json = false;
};

int fail(const std::string& message) {
  std::cerr << "rdiag-agent: " << message << "\n";
  return 1;
}

std::string absolute(const std::string& p) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(p, ec);
  return ec ? p : abs.lexically_normal().string();
}

// --config wins; else /etc/rdiag/agent.json when present; else, with
// --state-dir alone, built-in defaults (enough for `fingerprint`).
Result<AgentConfig> resolve_config(const Globals& g) {
  Result<AgentConfig> cfg = make_error("");
  if (!g.config.empty() || ::access(kDefaultConfig, F_OK) == 0) {
    cfg = load_agent_config(g.config.empty() ? kDefaultConfig : g.config);
    if (!cfg) return cfg;
  } else if (!g.state_dir.empty()) {
    AgentConfig c;
    c.engineers_file = kDefaultEngineers;
    cfg = std::move(c);
  } else {
    return make_error(i18n::tr("agent.cli.no_config", kDefaultConfig));
  }
  if (!g.state_dir.empty()) cfg->state_dir = absolute(g.state_dir);
  if (!g.control_socket.empty()) cfg->control_socket = absolute(g.control_socket);
  return cfg;
}

int cmd_fingerprint(const Globals& g, bool seal, bool public_line) {
  auto cfg = resolve_config(g);
  if (!cfg) return fail(cfg.error().message);
  auto keys = load_agent_keys(cfg->state_dir);
  if (!keys) return fail(keys.error().message);
  const PublicKey pub = (seal ? keys->seal : keys->host).public_key();
  const std::string fp = fingerprint_sha256(pub.blob);
  const std::string line = public_key_line(pub);
  if (g.json) {
    std::cout << nlohmann::json{{"fingerprint", fp}, {"public", line}}.dump() << "\n";
  } else {
    std::cout << (public_line ? line : fp) << "\n";
  }
  return 0;
}

Result<HostPort> listen_address(const AgentConfig& cfg, const std::string& flag) {
  if (!flag.empty()) {
    auto hp = parse_host_port(flag);
    if (!hp) return make_error(i18n::tr("agent.cli.bad_listen", flag, hp.error().message));
    return hp;
  }
  if (cfg.listen) return *cfg.listen;
  return make_error(i18n::tr("agent.cli.no_listen", cfg.source));
}

Result<void> check_net_account() {
  if (::geteuid() != 0) return {};
  if (lookup_account(kNetAccount)) return {};
  return make_error(i18n::tr("agent.cli.no_net_account", kNetAccount));
}

// Opens the records writer, which runs start-up recovery first. A ledger that
// does not verify, or one another process holds, stops the agent: it must
// never serve requests it cannot record.
Result<std::unique_ptr<Store>> open_records(const std::string& state_dir,
                                            const Ed25519PrivateKey& seal) {
  StoreRecovery recovery;
  auto store = Store::open(state_dir, seal, StoreOptions{}, &recovery);
  for (const auto& m : recovery.messages) log_info("agent.run.recovery", m);
  for (const auto& id : recovery.tampered) log_warn("agent.run.recovery_tampered", id);
  if (!store) {
    const auto& e = store.error();
    const char* id = e.reason == "tamper" ? "agent.run.records_tamper"
                     : e.reason == "busy" ? "agent.run.records_busy"
                                          : "agent.run.records_failed";
    return make_error(i18n::tr(id, state_dir, e.message));
  }
  auto started = (*store)->ledger_append(
      "agent.started", {{"version", kVersion}, {"pid", static_cast<std::int64_t>(::getpid())}});
  if (!started) log_error("agent.run.started_not_recorded", started.error().message);
  return store;
}

int cmd_run(const Globals& g, const std::string& listen_flag) {
  ::umask(077);
  // Whatever started us may have left descriptors open; none of them is ours
  // to pass on (sshd does the same with closefrom).
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  auto cfg = resolve_config(g);
  if (!cfg) return fail(cfg.error().message);
  auto where = listen_address(*cfg, listen_flag);
  if (!where) return fail(where.error().message);
  if (auto r = check_net_account(); !r) return fail(r.error().message);
  auto keys = load_agent_keys(cfg->state_dir);
  if (!keys) return fail(keys.error().message);
  auto engineers = load_engineers(cfg->engineers_file);
  if (!engineers) return fail(engineers.error().message);
  for (const auto& p : engineers->problems) log_warn("agent.engineers.problem", p.message);
  auto policy = policy_from_config(*cfg);
  if (!policy) return fail(policy.error().message);
  auto notifier = Notifier::from_config(*cfg);
  if (!notifier) return fail(notifier.error().message);
  auto store = open_records(cfg->state_dir, keys->seal);
  if (!store) return fail(store.error().message);
  keys->seal = (*store)->seal_key();
  auto consent = consent::Consent::open(
      **store, consent::Options{*policy, cfg->limits, consent::kDefaultFreeFloorBytes},
      *notifier ? std::make_unique<Notifier>(std::move(**notifier)) : nullptr);
  if (!consent) return fail(consent.error().message);
  auto control = ControlServer::open(cfg->control_socket, cfg->admin_group);
  if (!control) return fail(control.error().message);
  (void)::signal(SIGPIPE, SIG_IGN);
  Monitor monitor(std::move(*cfg), std::move(*keys), std::move(*engineers), store->get(),
                  consent->get());
  Listener listener(monitor, control->get());
  auto bound = listener.open(*where);
  if (!bound) return fail(bound.error().message);
  // A machine-readable line (tests and scripts parse it), so not translated.
  (void)std::printf("listening on %s:%u\n", bound->host.c_str(), unsigned{bound->port});
  (void)std::fflush(stdout);
  log_info("agent.started", bound->host, bound->port, ::getpid());
  return listener.run();
}

// --lang must be known before the help texts are built.
std::string prescan_lang(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--lang" && i + 1 < argc) return argv[i + 1];
    if (a.rfind("--lang=", 0) == 0) return std::string(a.substr(7));
  }
  return {};
}

}  // namespace

int main_entry(int argc, char** argv) {
  const std::string lang_flag = prescan_lang(argc, argv);
  i18n::set_lang(
      i18n::detect(lang_flag.empty() ? std::nullopt : std::optional<std::string_view>(lang_flag)));
  CLI::App app{i18n::tr("agent.cli.about"), "rdiag-agent"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals g;
  app.add_option("--config", g.config, i18n::tr("agent.cli.opt_config"));
  app.add_option("--state-dir", g.state_dir, i18n::tr("agent.cli.opt_state_dir"));
  app.add_option("--control-socket", g.control_socket, i18n::tr("agent.cli.opt_control_socket"));
  app.add_option("--lang", g.lang, i18n::tr("agent.cli.opt_lang"));
  app.add_flag("--json", g.json, i18n::tr("agent.cli.opt_json"));

  std::string listen_flag;
  auto* run = app.add_subcommand("run", i18n::tr("agent.cli.run_about"));
  run->add_option("--listen", listen_flag, i18n::tr("agent.cli.opt_listen"));

  bool seal = false;
  bool public_line = false;
  auto* fp = app.add_subcommand("fingerprint", i18n::tr("agent.cli.fingerprint_about"));
  fp->add_flag("--seal", seal, i18n::tr("agent.cli.opt_seal"));
  fp->add_flag("--public", public_line, i18n::tr("agent.cli.opt_public"));

  RecordsCommands records(app);
  bundle::CollectCommand collect(app);
  AdminCommands admin(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (run->parsed()) return cmd_run(g, listen_flag);
  if (fp->parsed()) return cmd_fingerprint(g, seal, public_line);
  if (records.parsed()) return records.run([&g] { return resolve_config(g); }, g.json);
  if (collect.parsed()) return collect.run([&g] { return resolve_config(g); }, g.json);
  if (admin.parsed()) return admin.run([&g] { return resolve_config(g); }, g.json);
  return 2;
}

}  // namespace rdiag::agent
