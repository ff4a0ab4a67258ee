#include "console/agent_info.h"

#include "common/i18n.h"
#include "common/ssh_key.h"
#include "common/text_safety.h"
#include "console/exit_codes.h"
#include "console/terminal.h"

namespace rdiag::console {
namespace {

using nlohmann::json;
using rdiag::i18n::tr;

// info[a][b] as a string, or "" when absent or not a string.
std::string str_at(const json& obj, std::initializer_list<const char*> path) {
  const json* cur = &obj;
  for (const char* key : path) {
    if (!cur->is_object()) return {};
    auto it = cur->find(key);
    if (it == cur->end()) return {};
    cur = &*it;
  }
  return cur->is_string() ? cur->get<std::string>() : std::string();
}

std::string shown(const std::string& agent_text) {
  return agent_text.empty() ? "-" : terminal_safe(agent_text);
}

// plugins / collectors / fixes: a count, then the names (strings, or objects
// with a "name").
std::string list_summary(const json& info, const char* key) {
  auto it = info.find(key);
  if (it == info.end() || !it->is_array()) return "-";
  std::string names;
  for (const auto& item : *it) {
    std::string name = item.is_string() ? item.get<std::string>() : str_at(item, {"name"});
    if (name.empty()) continue;
    names += (names.empty() ? "" : ", ") + terminal_safe(name);
  }
  if (names.empty()) return std::to_string(it->size());
  return tr("console.info.count_names", it->size(), names);
}

std::string engineer_line(const json& info) {
  std::string name = str_at(info, {"engineer", "name"});
  std::string id = str_at(info, {"engineer", "id"});
  std::string role = str_at(info, {"engineer", "role"});
  std::string fp = str_at(info, {"engineer", "fingerprint"});
  if (name.empty()) name = fp;
  return tr("console.info.you_are_value", shown(name), shown(id), shown(role));
}

}  // namespace

Result<SealKey> seal_key_of(const json& info, const std::string& endpoint) {
  auto key = parse_public_key_line(str_at(info, {"seal_key", "public"}));
  if (!key || key->type != "ssh-ed25519") {
    return make_error(tr("console.info.bad_seal_key", endpoint), kReasonAgentInconsistent);
  }
  SealKey seal{fingerprint_sha256(key->blob),
               key->type + " " + base64_encode(key->blob.data(), key->blob.size())};
  std::string claimed = str_at(info, {"seal_key", "fingerprint"});
  if (!claimed.empty() && claimed != seal.fingerprint) {
    return make_error(
        tr("console.info.seal_fp_mismatch", endpoint, terminal_safe(claimed), seal.fingerprint),
        kReasonAgentInconsistent);
  }
  return seal;
}

Result<void> check_host_key_claim(const json& info, const std::string& presented_fp,
                                  const std::string& endpoint) {
  std::string claimed = str_at(info, {"host_key", "fingerprint"});
  if (claimed.empty() || claimed == presented_fp) return {};
  return make_error(
      tr("console.info.host_fp_mismatch", endpoint, terminal_safe(claimed), presented_fp),
      kReasonAgentInconsistent);
}

std::string render_info(const InfoView& v) {
  const json& info = v.info;
  std::string where = v.site.name + " (" + endpoint_text(v.site.host, v.site.port) + ")";
  return render_fields({
      {tr("console.info.site"), terminal_safe(where)},
      {tr("console.info.version"), shown(str_at(info, {"version"}))},
      {tr("console.info.hostname"), shown(str_at(info, {"hostname"}))},
      {tr("console.info.os"), shown(str_at(info, {"os"}))},
      {tr("console.info.host_key"), v.host_fingerprint},
      {tr("console.info.seal_key"), v.seal_fingerprint},
      {tr("console.info.you_are"), engineer_line(info)},
      {tr("console.info.plugins"), list_summary(info, "plugins")},
      {tr("console.info.collectors"), list_summary(info, "collectors")},
      {tr("console.info.fixes"), list_summary(info, "fixes")},
      {tr("console.info.relay"), shown(str_at(info, {"relay", "state"}))},
  });
}

std::string fingerprint_of_line(const std::string& key_line) {
  auto key = parse_public_key_line(key_line);
  return key ? fingerprint_sha256(key->blob) : std::string("?");
}

}  // namespace rdiag::console
