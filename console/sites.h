// Sites: the agents an engineer talks to, by short name. Stored in
// <data_dir>/sites.json as {"sites":[{"name","host","port","tags"}]}, the same
// shape `rdiag sites list --json` prints.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::console {

constexpr std::uint16_t kDefaultAgentPort = 2222;

struct Site {
  std::string name;
  std::string host;
  std::uint16_t port = kDefaultAgentPort;
  std::vector<std::string> tags;
  bool operator==(const Site&) const = default;
};

// ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$
bool valid_site_name(std::string_view name);
// A tag is used in `--sites tag:T` and joined with commas in tables, so no
// commas, whitespace or controls; up to 64 bytes of UTF-8.
bool valid_tag(std::string_view tag);
// Host names and IP literals only: letters, digits, '.', '-', '_', ':' (IPv6);
// it becomes an SSH host name and a known_hosts key, so nothing else.
bool valid_host(std::string_view host);

struct HostAndPort {
  std::string host;  // lower-cased, IPv6 without brackets
  std::uint16_t port = kDefaultAgentPort;
};
// "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal.
Result<HostAndPort> parse_site_address(std::string_view text);

// Validates all fields; messages name the site and the field.
Result<Site> make_site(std::string_view name, std::string_view address,
                       const std::vector<std::string>& tags);

class SiteList {
 public:
  const std::vector<Site>& sites() const { return sites_; }
  const Site* find(std::string_view name) const;
  Result<void> add(Site site);  // refuses a duplicate name
  Result<void> remove(std::string_view name);

  // `path` only names the file in messages.
  static Result<SiteList> from_json_text(std::string_view text, const std::string& path);
  nlohmann::ordered_json to_json() const;

 private:
  std::vector<Site> sites_;
};

// <data_dir>/sites.json; a missing file is an empty list.
std::string sites_path(const std::string& data_dir);
Result<SiteList> load_sites(const std::string& data_dir);
Result<void> save_sites(const std::string& data_dir, const SiteList& list);

// Keys in the order of the wire protocol: name, host, port, tags.
nlohmann::ordered_json site_to_json(const Site& site);

// "host:port", or "[v6]:port", for messages.
std::string endpoint_text(std::string_view host, std::uint16_t port);

}  // namespace rdiag::console
