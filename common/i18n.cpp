#include "common/i18n.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>

namespace rdiag::i18n {
namespace {

struct Entry {
  std::string_view id;
  std::string_view en;
  std::string_view zh;
};

// One table, split into files by the part of the product that uses it so
// that work on the agent and on the console does not collide.
constexpr Entry kCatalog[] = {
#include "common/catalog/agent.inc"
#include "common/catalog/bundle.inc"
#include "common/catalog/collect.inc"
#include "common/catalog/common.inc"
#include "common/catalog/consent.inc"
#include "common/catalog/console.inc"
#include "common/catalog/console_consent.inc"
#include "common/catalog/console_diag.inc"
#include "common/catalog/control.inc"
#include "common/catalog/diag.inc"
#include "common/catalog/door.inc"
#include "common/catalog/flow.inc"
#include "common/catalog/logs.inc"
#include "common/catalog/notify.inc"
#include "common/catalog/plugins.inc"
#include "common/catalog/records.inc"
#include "common/catalog/redact.inc"
#include "common/catalog/rpc.inc"
#include "common/catalog/store.inc"
};

std::atomic<Lang> g_lang{Lang::kEn};

const Entry* find(std::string_view id) {
  for (const Entry& e : kCatalog) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

}  // namespace

Lang parse_lang(std::string_view tag) {
  return tag.substr(0, 2) == "zh" ? Lang::kZhCN : Lang::kEn;
}

Lang detect(std::optional<std::string_view> flag) {
  if (flag && !flag->empty()) return parse_lang(*flag);
  for (const char* var : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    const char* v = std::getenv(var);  // NOLINT(concurrency-mt-unsafe): read at start-up
    if (v != nullptr && *v != '\0') return parse_lang(v);
  }
  return Lang::kEn;
}

void set_lang(Lang l) {
  g_lang.store(l);
}
Lang lang() {
  return g_lang.load();
}

std::string_view text_in(Lang l, std::string_view id) {
  const Entry* e = find(id);
  if (e == nullptr) return id;
  return l == Lang::kZhCN ? e->zh : e->en;
}

std::string_view text(std::string_view id) {
  return text_in(lang(), id);
}

std::size_t catalog_size() {
  return std::size(kCatalog);
}

std::vector<std::string_view> catalog_ids() {
  std::vector<std::string_view> ids;
  ids.reserve(std::size(kCatalog));
  for (const Entry& e : kCatalog) ids.push_back(e.id);
  return ids;
}
bool has_id(std::string_view id) {
  return find(id) != nullptr;
}

}  // namespace rdiag::i18n
