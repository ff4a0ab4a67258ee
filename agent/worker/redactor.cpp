#include "agent/worker/redactor.h"

#include <string>

#include "common/i18n.h"

namespace rdiag::agent {

Result<redact::Engine> build_redactor(const nlohmann::json& config_rules,
                                      const std::vector<plugins::Plugin>& found,
                                      const std::vector<redact::ScanRule>& scan_rules) {
  std::vector<redact::Pattern> extra;
  if (config_rules.is_array()) {
    for (const nlohmann::json& r : config_rules) {
      if (!r.is_object() || !r.value("name", nlohmann::json()).is_string() ||
          !r.value("pattern", nlohmann::json()).is_string()) {
        return make_error(i18n::tr("agent.diag.redact_rule", r.dump()), "bad_job");
      }
      extra.push_back({r["name"].get<std::string>(), r["pattern"].get<std::string>()});
    }
  }
  for (const plugins::Plugin& p : found) {
    for (const auto& r : p.redact) extra.push_back({p.name + ":" + r.name, r.pattern});
  }
  auto engine = redact::Engine::build(scan_rules, extra);
  if (!engine) {
    // A broken installation is not the configuration's fault.
    const bool install = engine.error().reason == "compile_unavailable";
    return make_error(engine.error().message, install ? "compile_unavailable" : "bad_config");
  }
  return engine;
}

}  // namespace rdiag::agent
