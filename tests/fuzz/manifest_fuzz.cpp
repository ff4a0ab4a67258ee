// libFuzzer target for plugin.json (agent/plugins/manifest.cpp): customer IT
// writes it, the monitor (agent.info) and the worker parse it. Beyond "no
// crash": a manifest that parses names itself after its folder, and a
// refusal always says which file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/plugins/manifest.h"
#include "tests/fuzz/fuzz_require.h"

using rdiag::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string path = "/usr/lib/rdiag/plugins/fz/plugin.json";
  auto plugin = rdiag::agent::plugins::parse_manifest(text, path);
  if (plugin) {
    require(plugin->name == "fz");
    require(plugin->manifest == path);
  } else {
    require(plugin.error().message.find(path) != std::string::npos);
  }
  return 0;
}
