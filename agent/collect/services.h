// The `services` collector: systemd units over sd-bus (ListUnits on
// org.freedesktop.systemd1.Manager), summarised as counts by active state
// and the list of failed units.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rdiag::agent::collect {

// The ListUnits fields a report uses, out of its a(ssssssouso) rows.
struct UnitRow {
  std::string name;
  std::string description;
  std::string load_state;    // loaded, not-found, masked, ...
  std::string active_state;  // active, inactive, failed, activating, ...
  std::string sub_state;     // running, exited, dead, failed, auto-restart, ...
};

// {"units_total": N, "by_active_state": {"active": N, ...},
//  "failed": [{"name", "description", "sub_state"}]}, failed sorted by name.
nlohmann::json summarize_units(const std::vector<UnitRow>& units);

}  // namespace rdiag::agent::collect
