// The one redaction engine a worker job builds: the built-in rules, the
// "redact" rules customer IT configured, every plugin's redact rules and,
// for log scans, the plugin scan rules - one database, one place that
// decides how rule names are spelled.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "agent/plugins/manifest.h"
#include "common/redact/engine.h"
#include "common/result.h"

namespace rdiag::agent {

// config_rules: agent.json "redact", raw ([{name, pattern}]); plugin rules
// are named "<plugin>:<name>". A malformed config entry is reason "bad_job",
// a pattern that does not compile "bad_config".
Result<redact::Engine> build_redactor(const nlohmann::json& config_rules,
                                      const std::vector<plugins::Plugin>& found,
                                      const std::vector<redact::ScanRule>& scan_rules = {});

}  // namespace rdiag::agent
