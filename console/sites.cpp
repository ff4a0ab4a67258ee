#include "console/sites.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/i18n.h"
#include "common/text_safety.h"
#include "console/files.h"

namespace rdiag::console {
namespace {

using rdiag::i18n::tr;

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return lower(a) == lower(b);
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

Error bad_address(std::string_view text) {
  return make_error(tr("console.sites.bad_address", terminal_safe(text)), "invalid_address");
}

// Splits "[v6]:port" / "[v6]" into host and port text.
Result<std::pair<std::string, std::string>> split_bracketed(std::string_view text) {
  auto close = text.find(']');
  if (close == std::string_view::npos) return bad_address(text);
  std::string host(text.substr(1, close - 1));
  std::string_view rest = text.substr(close + 1);
  if (rest.empty()) return std::pair{host, std::string()};
  if (rest[0] != ':' || rest.size() == 1) return bad_address(text);
  return std::pair{host, std::string(rest.substr(1))};
}

Result<std::pair<std::string, std::string>> split_address(std::string_view text) {
  if (!text.empty() && text[0] == '[') return split_bracketed(text);
  auto first = text.find(':');
  // More than one colon without brackets: a bare IPv6 literal, default port.
  if (first == std::string_view::npos || text.find(':', first + 1) != std::string_view::npos) {
    return std::pair{std::string(text), std::string()};
  }
  if (first + 1 == text.size()) return bad_address(text);
  return std::pair{std::string(text.substr(0, first)), std::string(text.substr(first + 1))};
}

template <typename T>
Result<T> field(const nlohmann::json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return make_error(tr("console.sites.file_missing_field", where, key), "invalid_sites_file");
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return make_error(tr("console.sites.file_bad_field", where, key), "invalid_sites_file");
  }
}

Result<Site> site_from_json(const nlohmann::json& obj, const std::string& where) {
  if (!obj.is_object())
    return make_error(tr("console.sites.file_bad", where), "invalid_sites_file");
  auto name = field<std::string>(obj, "name", where);
  if (!name) return name.error();
  auto host = field<std::string>(obj, "host", where);
  if (!host) return host.error();
  auto port = field<std::int64_t>(obj, "port", where);
  if (!port) return port.error();
  std::vector<std::string> tags;
  if (obj.contains("tags")) {
    auto t = field<std::vector<std::string>>(obj, "tags", where);
    if (!t) return t.error();
    tags = std::move(*t);
  }
  auto site = make_site(*name, "[" + *host + "]:" + std::to_string(*port), tags);
  if (!site) return make_error(where + ": " + site.error().message, "invalid_sites_file");
  return site;
}

}  // namespace

bool valid_site_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || !is_alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 64) return false;
  // Bytes >= 0x80 must form valid UTF-8 (CJK tags are fine); C1 controls and
  // bidi overrides are escaped by terminal_safe() wherever tags are shown.
  return std::all_of(tag.begin(), tag.end(),
                     [](char c) {
                       auto u = static_cast<unsigned char>(c);
                       return u >= 0x80 || (u > 0x20 && u != 0x7f && c != ',');
                     }) &&
         sanitize_utf8(tag) == tag;
}

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 253 || host[0] == '-' || host[0] == '.') return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return is_alnum(c) || c == '.' || c == '-' || c == '_' || c == ':';
  });
}

Result<HostAndPort> parse_site_address(std::string_view text) {
  auto parts = split_address(text);
  if (!parts) return parts.error();
  HostAndPort out;
  out.host = lower(parts->first);
  if (!valid_host(out.host)) return bad_address(text);
  if (!parts->second.empty()) {
    auto port = parse_port(parts->second);
    if (!port)
      return make_error(tr("console.sites.bad_port", terminal_safe(text)), "invalid_address");
    out.port = *port;
  }
  return out;
}

Result<Site> make_site(std::string_view name, std::string_view address,
                       const std::vector<std::string>& tags) {
  if (!valid_site_name(name)) {
    return make_error(tr("console.sites.bad_name", terminal_safe(name)), "invalid_name");
  }
  auto hp = parse_site_address(address);
  if (!hp) return hp.error();
  for (const auto& tag : tags) {
    if (!valid_tag(tag))
      return make_error(tr("console.sites.bad_tag", terminal_safe(tag)), "invalid_tag");
  }
  return Site{std::string(name), hp->host, hp->port, tags};
}

const Site* SiteList::find(std::string_view name) const {
  auto it =
      std::find_if(sites_.begin(), sites_.end(), [&](const Site& s) { return s.name == name; });
  return it == sites_.end() ? nullptr : &*it;
}

Result<void> SiteList::add(Site site) {
  // Names differing only in case would be too easy to mix up on a support call.
  for (const auto& s : sites_) {
    if (iequals(s.name, site.name)) {
      return make_error(tr("console.sites.duplicate", s.name), "duplicate");
    }
  }
  sites_.push_back(std::move(site));
  return {};
}

Result<void> SiteList::remove(std::string_view name) {
  auto it =
      std::find_if(sites_.begin(), sites_.end(), [&](const Site& s) { return s.name == name; });
  if (it == sites_.end()) {
    return make_error(tr("console.sites.unknown", terminal_safe(name)), "not_found");
  }
  sites_.erase(it);
  return {};
}

Result<SiteList> SiteList::from_json_text(std::string_view text, const std::string& path) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("sites") ||
      !doc["sites"].is_array()) {
    return make_error(tr("console.sites.file_bad", path), "invalid_sites_file");
  }
  SiteList list;
  std::size_t index = 0;
  for (const auto& entry : doc["sites"]) {
    std::string where = path + " sites[" + std::to_string(index++) + "]";
    auto site = site_from_json(entry, where);
    if (!site) return site.error();
    auto added = list.add(std::move(*site));
    if (!added) return make_error(where + ": " + added.error().message, "invalid_sites_file");
  }
  return list;
}

nlohmann::ordered_json site_to_json(const Site& site) {
  return {{"name", site.name}, {"host", site.host}, {"port", site.port}, {"tags", site.tags}};
}

nlohmann::ordered_json SiteList::to_json() const {
  auto arr = nlohmann::ordered_json::array();
  for (const auto& s : sites_) arr.push_back(site_to_json(s));
  return {{"sites", arr}};
}

std::string endpoint_text(std::string_view host, std::uint16_t port) {
  bool v6 = host.find(':') != std::string_view::npos;
  std::string h = v6 ? "[" + std::string(host) + "]" : std::string(host);
  return h + ":" + std::to_string(port);
}

std::string sites_path(const std::string& data_dir) {
  return data_dir + "/sites.json";
}

Result<SiteList> load_sites(const std::string& data_dir) {
  std::string path = sites_path(data_dir);
  auto text = read_text_file(path);
  if (!text) {
    if (text.error().reason == "not_found") return SiteList{};
    return text.error();
  }
  return SiteList::from_json_text(*text, path);
}

Result<void> save_sites(const std::string& data_dir, const SiteList& list) {
  // Invalid UTF-8 cannot get in (tags are checked by the parser that read them),
  // but replace rather than throw if it ever did.
  std::string text =
      list.to_json().dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return write_file_atomic(sites_path(data_dir), text + "\n");
}

}  // namespace rdiag::console
