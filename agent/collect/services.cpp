#include "agent/collect/services.h"

#include <systemd/sd-bus.h>

#include <algorithm>
#include <map>
#include <memory>

#include "agent/collect/collector.h"
#include "agent/collect/processes.h"
#include "common/fs.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

// A stuck systemd must not stall the whole report.
constexpr std::uint64_t kCallTimeoutUs = 5'000'000;

struct BusDeleter {
  void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
struct MessageDeleter {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using Bus = std::unique_ptr<sd_bus, BusDeleter>;
using Message = std::unique_ptr<sd_bus_message, MessageDeleter>;

Error bus_error(const char* what, int r) {
  return make_error(tr("agent.collect.bus_failed", what, errno_text(-r)), "bus_error");
}

// Reads one (ssssssouso) row; 0 at the end of the array, < 0 on error.
int read_unit(sd_bus_message* m, UnitRow& row) {
  const char *name, *desc, *load, *active, *sub, *following, *path, *job_type, *job_path;
  std::uint32_t job_id = 0;
  const int r = sd_bus_message_read(m, "(ssssssouso)", &name, &desc, &load, &active, &sub,
                                    &following, &path, &job_id, &job_type, &job_path);
  if (r > 0) row = UnitRow{name, desc, load, active, sub};
  return r;
}

Result<std::vector<UnitRow>> list_units(sd_bus* bus) {
  sd_bus_message* raw = nullptr;
  sd_bus_error err = SD_BUS_ERROR_NULL;
  sd_bus_message* call = nullptr;
  int r = sd_bus_message_new_method_call(bus, &call, "org.freedesktop.systemd1",
                                         "/org/freedesktop/systemd1",
                                         "org.freedesktop.systemd1.Manager", "ListUnits");
  if (r < 0) return bus_error("ListUnits", r);
  const Message request(call);
  r = sd_bus_call(bus, call, kCallTimeoutUs, &err, &raw);
  const Message reply(raw);
  if (r < 0) {
    // No systemd on the bus (a container with dbus but another init).
    std::string msg = err.message ? err.message : errno_text(-r);
    sd_bus_error_free(&err);
    return make_error(tr("agent.collect.no_systemd", msg), "no_systemd");
  }
  if ((r = sd_bus_message_enter_container(raw, SD_BUS_TYPE_ARRAY, "(ssssssouso)")) < 0) {
    return bus_error("ListUnits", r);
  }
  std::vector<UnitRow> units;
  UnitRow row;
  while ((r = read_unit(raw, row)) > 0) units.push_back(std::move(row));
  if (r < 0) return bus_error("ListUnits", r);
  return units;
}

Result<nlohmann::json> services_collect(const CollectContext&) {
  sd_bus* raw = nullptr;
  const int r = sd_bus_open_system(&raw);
  const Bus bus(raw);
  if (r < 0) {
    // Containers and CI runners have no system bus: say so, as an error part.
    return make_error(tr("agent.collect.no_system_bus", errno_text(-r)), "no_system_bus");
  }
  auto units = list_units(bus.get());
  if (!units) return units.error();
  return summarize_units(*units);
}

}  // namespace

nlohmann::json summarize_units(const std::vector<UnitRow>& units) {
  std::map<std::string, std::uint64_t> by_state;
  std::vector<const UnitRow*> failed;
  for (const UnitRow& u : units) {
    ++by_state[u.active_state];
    if (u.active_state == "failed") failed.push_back(&u);
  }
  std::sort(failed.begin(), failed.end(),
            [](const UnitRow* a, const UnitRow* b) { return a->name < b->name; });
  nlohmann::json rows = nlohmann::json::array();
  // Unit descriptions come from unit files anyone with root wrote: keep the
  // report valid UTF-8 whatever they hold.
  for (const UnitRow* u : failed) {
    rows.push_back({{"name", valid_utf8(u->name)},
                    {"description", valid_utf8(u->description)},
                    {"sub_state", valid_utf8(u->sub_state)}});
  }
  nlohmann::json states = nlohmann::json::object();
  for (const auto& [state, n] : by_state) states[valid_utf8(state)] = n;
  return {{"units_total", units.size()},
          {"by_active_state", std::move(states)},
          {"failed", std::move(rows)}};
}

const Collector& services_collector() {
  static const Collector c{"services", "agent.collect.summary.services", services_collect};
  return c;
}

}  // namespace rdiag::agent::collect
