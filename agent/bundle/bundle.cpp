#include "agent/bundle/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <set>

#include "common/digest.h"
#include "common/fs.h"
#include "common/i18n.h"
#include "common/records/chain.h"
#include "common/sshsig.h"
#include "common/version.h"

namespace rdiag::agent::bundle {
namespace {

using nlohmann::json;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;
using EntryPtr = std::unique_ptr<archive_entry, EntryDeleter>;

struct Member {
  std::string name;
  std::string bytes;
};

// libarchive hands us the compressed stream block by block; keeping it in
// memory lets write() hash it and put it on disk in one atomic step.
la_ssize_t append_block(archive*, void* out, const void* data, std::size_t len) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), len);
  return static_cast<la_ssize_t>(len);
}

Error archive_failed(archive* a) {
  const char* why = archive_error_string(a);
  return make_error(i18n::tr("agent.bundle.archive_failed", why == nullptr ? "?" : why),
                    "archive_failed");
}

Result<void> add_member(archive* a, const Member& m, std::int64_t mtime) {
  EntryPtr e(archive_entry_new());
  archive_entry_set_pathname(e.get(), m.name.c_str());
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(m.bytes.size()));
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0644);
  // Owner and time say nothing about the server a bundle came from beyond
  // what the manifest states, and make two bundles of one report comparable.
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  archive_entry_set_uname(e.get(), "root");
  archive_entry_set_gname(e.get(), "root");
  archive_entry_set_mtime(e.get(), mtime, 0);
  if (archive_write_header(a, e.get()) != ARCHIVE_OK) return archive_failed(a);
  if (!m.bytes.empty() && archive_write_data(a, m.bytes.data(), m.bytes.size()) !=
                              static_cast<la_ssize_t>(m.bytes.size())) {
    return archive_failed(a);
  }
  return {};
}

// report.json and the excerpts, with unique safe names.
std::vector<Member> content_members(const Contents& c) {
  std::vector<Member> out;
  out.push_back(
      {"report.json", c.report.dump(2, ' ', false, json::error_handler_t::replace) + "\n"});
  std::set<std::string> taken;
  for (const Excerpt& x : c.excerpts) {
    const std::string base = safe_member_name(x.name);
    std::string name = "excerpts/" + base + ".log";
    // Two sources that differ only in unsafe characters must not overwrite each other.
    for (int n = 2; !taken.insert(name).second; ++n) {
      name = "excerpts/" + base + "-" + std::to_string(n) + ".log";
    }
    out.push_back({name, x.text});
  }
  return out;
}

std::string manifest_text(const Contents& c, const std::vector<Member>& members,
                          const Ed25519PrivateKey& key) {
  json list = json::array();
  for (const Member& m : members) {
    list.push_back({{"name", m.name}, {"bytes", m.bytes.size()}, {"sha256", sha256_hex(m.bytes)}});
  }
  const json manifest = {{"format", kFormat},
                         {"created", records::format_ts(c.created)},
                         {"host", c.host},
                         {"agent_version", kVersion},
                         {"seal_key", fingerprint_sha256(key.public_key().blob)},
                         {"members", std::move(list)}};
  return manifest.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string safe_member_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok || (c == '.' && !out.empty() && out.back() == '.')) {
      out += '_';
    } else {
      out += c;
    }
  }
  if (out.empty() || out.front() == '.') out.insert(out.begin(), '_');
  return out;
}

std::vector<Excerpt> log_excerpts(const json& report) {
  std::vector<Excerpt> out;
  const json logs = report.value("logs", json::object());
  if (!logs.is_object()) return out;
  for (const json& rule : logs.value("rules", json::array())) {
    if (!rule.is_object() || !rule.contains("id") || !rule["id"].is_string()) continue;
    std::string text;
    for (const json& sample : rule.value("samples", json::array())) {
      if (sample.is_string()) text += sample.get<std::string>() + "\n";
    }
    out.push_back({rule["id"].get<std::string>() + ".log", std::move(text)});
  }
  return out;
}

Contents contents_for(json report, std::vector<Excerpt> excerpts) {
  Contents c;
  if (auto it = report.find("host"); it != report.end() && it->is_string()) {
    c.host = it->get<std::string>();
  } else {
    std::array<char, 256> name{};
    if (::gethostname(name.data(), name.size() - 1) == 0) c.host = name.data();
  }
  c.report = std::move(report);
  c.excerpts = excerpts.empty() ? log_excerpts(c.report) : std::move(excerpts);
  c.created = std::chrono::system_clock::now();
  return c;
}

Result<std::string> build(const Contents& contents, const Ed25519PrivateKey& seal_key) {
  std::vector<Member> members = content_members(contents);
  std::string manifest = manifest_text(contents, members, seal_key);
  std::string signature = sshsig_sign(seal_key, kNamespace, manifest);
  if (signature.empty()) {
    return make_error(i18n::tr("agent.bundle.sign_failed"), "sign_failed");
  }
  members.push_back({std::string(kManifestName), std::move(manifest)});
  members.push_back({std::string(kSignatureName), std::move(signature)});
  const auto mtime =
      std::chrono::duration_cast<std::chrono::seconds>(contents.created.time_since_epoch()).count();
  std::string out;
  ArchivePtr a(archive_write_new());
  if (!a)
    return make_error(i18n::tr("agent.bundle.archive_failed", "out of memory"), "archive_failed");
  // No padding to 10 KiB blocks: the file crosses the network in chunks.
  (void)archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK ||
      archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_open(a.get(), &out, nullptr, &append_block, nullptr) != ARCHIVE_OK) {
    return archive_failed(a.get());
  }
  for (const Member& m : members) {
    if (auto r = add_member(a.get(), m, mtime); !r) return r.error();
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return archive_failed(a.get());
  return out;
}

Result<Written> write(const std::string& path, const Contents& contents,
                      const Ed25519PrivateKey& seal_key) {
  auto bytes = build(contents, seal_key);
  if (!bytes) return bytes.error();
  int err = write_file_atomic(path, *bytes, 0600, IfExists::kKeep);
  if (err == 0) {
    err = fsync_parent_dir(path);
    if (err != 0) ::unlink(path.c_str());  // not durable, so not kept (or served)
  }
  if (err != 0) {
    return make_error(i18n::tr("agent.bundle.write_failed", path, errno_text(err)),
                      err == EEXIST ? "exists" : "io_error");
  }
  return Written{path, bytes->size(), sha256_hex(*bytes)};
}

}  // namespace rdiag::agent::bundle
