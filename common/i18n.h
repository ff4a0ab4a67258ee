// The message catalog: every user-facing string goes through here, in English
// and Simplified Chinese. JSON keys, reason codes and event types stay English.
//
// Messages are looked up by id ("agent.config.unknown_key") and formatted with
// fmt; placeholders are positional ({0}, {1}) so a translation may reorder them.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rdiag::i18n {

enum class Lang { kEn, kZhCN };

// Picks the language from --lang (if given), else LC_ALL, LC_MESSAGES, LANG.
// Anything starting with "zh" selects Chinese; everything else English.
Lang detect(std::optional<std::string_view> flag);
Lang parse_lang(std::string_view tag);
void set_lang(Lang lang);
Lang lang();

// The template for id in the current language. An unknown id returns the id
// itself (a unit test checks that every id used in the tree is in the catalog).
std::string_view text(std::string_view id);

// Every id in the catalog; for the catalog's own tests.
std::size_t catalog_size();
std::vector<std::string_view> catalog_ids();
bool has_id(std::string_view id);
std::string_view text_in(Lang lang, std::string_view id);

template <typename... Args>
std::string tr(std::string_view id, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return std::string(text(id));
  } else {
    try {
      return fmt::format(fmt::runtime(text(id)), std::forward<Args>(args)...);
    } catch (const fmt::format_error&) {
      return std::string(id);  // a broken translation must never take a process down
    }
  }
}

}  // namespace rdiag::i18n
