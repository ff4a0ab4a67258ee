// The list of built-in collectors and the loop that runs them.
#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <thread>

#include "agent/collect/collector.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

milliseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t);
}

nlohmann::json error_json(const Error& e) {
  return {{"reason", e.reason}, {"message", e.message}};
}

// A collector that throws (a JSON or allocation error) becomes an error part:
// one broken collector must not take the report down.
template <typename F>
Result<nlohmann::json> guarded(std::string_view name, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return make_error(i18n::tr("agent.collect.crashed", name, e.what()), "internal");
  }
}

nlohmann::json part(std::string_view name, const Result<nlohmann::json>& r, milliseconds took) {
  nlohmann::json j = {{"name", name}, {"ok", r.has_value()}};
  if (r) {
    j["data"] = r.value();
  } else {
    j["error"] = error_json(r.error());
  }
  j["elapsed_ms"] = took.count();
  return j;
}

}  // namespace

Result<void> check_names(const std::vector<std::string>& names) {
  const auto& reg = registry();
  for (const std::string& n : names) {
    if (std::none_of(reg.begin(), reg.end(), [&](const Collector& c) { return c.name == n; })) {
      std::string known;
      for (const Collector& c : reg) known += (known.empty() ? "" : ", ") + std::string(c.name);
      return make_error(i18n::tr("agent.collect.unknown_collector", n, known), "unknown_collector");
    }
  }
  return {};
}

namespace {

Result<std::vector<const Collector*>> select(const std::vector<std::string>& names) {
  if (auto known = check_names(names); !known) return known.error();
  std::vector<const Collector*> out;
  for (const Collector& c : registry()) {
    if (names.empty() || std::find(names.begin(), names.end(), c.name) != names.end()) {
      out.push_back(&c);
    }
  }
  return out;
}

// A first sample and when it was taken, for one two-sample collector.
struct Pending {
  std::any first;
  Clock::time_point taken;
  milliseconds took{0};
};
using PendingMap = std::map<std::string_view, Pending>;

bool two_sample(const Collector& c) {
  return c.begin != nullptr && c.finish != nullptr;
}

PendingMap begin_all(const std::vector<const Collector*>& selected, const CollectContext& ctx) {
  PendingMap pending;
  for (const Collector* c : selected) {
    if (!two_sample(*c)) continue;
    Pending p;
    p.taken = Clock::now();
    try {
      p.first = c->begin(ctx);
    } catch (const std::exception&) {
      p.first.reset();  // finish reports the missing first sample
    }
    p.took = since(p.taken);
    pending.emplace(c->name, std::move(p));
  }
  return pending;
}

void finish_all(const std::vector<const Collector*>& selected, const CollectContext& ctx,
                const PendingMap& pending, std::map<std::string_view, nlohmann::json>& parts) {
  for (const Collector* c : selected) {
    const auto it = pending.find(c->name);
    if (it == pending.end()) continue;
    const auto t = Clock::now();
    auto r =
        guarded(c->name, [&] { return c->finish(ctx, it->second.first, since(it->second.taken)); });
    // Own time only: the shared wait is not any one collector's cost.
    parts[c->name] = part(c->name, r, it->second.took + since(t));
  }
}

}  // namespace

// A static library drops objects nothing refers to, so self-registering
// collectors would vanish from the binary: the list is explicit instead, and
// a test asserts the names.
const std::vector<Collector>& registry() {
  static const std::vector<Collector> all = {
      cpu_collector(),       disk_collector(),     limits_collector(),
      memory_collector(),    network_collector(),  os_collector(),
      processes_collector(), services_collector(), time_collector(),
  };
  return all;
}

Result<nlohmann::json> collect_two_samples(const CollectContext& ctx, BeginFn begin,
                                           FinishFn finish) {
  const auto start = Clock::now();
  std::any first = begin(ctx);
  std::this_thread::sleep_for(ctx.sample);
  return finish(ctx, first, since(start));
}

Result<nlohmann::json> run_collectors(const std::vector<std::string>& names,
                                      const CollectContext& ctx) {
  auto selected = select(names);
  if (!selected) return selected.error();
  // First samples, then the one-shot collectors while the samples age, then
  // whatever is left of the wait, then the second samples: a full run takes
  // about max(ctx.sample, the one-shot collectors' time).
  const auto wait_start = Clock::now();
  auto pending = begin_all(*selected, ctx);
  std::map<std::string_view, nlohmann::json> parts;
  for (const Collector* c : *selected) {
    if (pending.count(c->name) != 0) continue;
    const auto t = Clock::now();
    auto r = guarded(c->name, [&] { return c->collect(ctx); });
    parts[c->name] = part(c->name, r, since(t));
  }
  const auto waited = since(wait_start);
  if (!pending.empty() && waited < ctx.sample) std::this_thread::sleep_for(ctx.sample - waited);
  finish_all(*selected, ctx, pending, parts);
  nlohmann::json out = nlohmann::json::array();
  for (const Collector* c : *selected) out.push_back(std::move(parts[c->name]));
  return out;
}

}  // namespace rdiag::agent::collect
