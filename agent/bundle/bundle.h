// Offline bundles (DESIGN.md "Diagnostics" -> Offline): one tar.gz a customer
// can hand to the vendor, holding the report, redacted log excerpts and a
// manifest signed by the seal key, so that anyone holding the seal key's
// public line can check with the stock `ssh-keygen -Y verify` that nothing in
// it was changed after the agent wrote it.
//
// The monitor (bundle.create) and `rdiag-agent collect` both write bundles
// here; neither runs collectors itself: the report comes from the worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/ssh_key.h"

namespace rdiag::agent::bundle {

inline constexpr std::string_view kFormat = "rdiag-bundle-v1";
inline constexpr std::string_view kNamespace = "rdiag-bundle-v1@rdiag";
inline constexpr std::string_view kManifestName = "manifest.json";
inline constexpr std::string_view kSignatureName = "manifest.json.sshsig";

// A log excerpt, already redacted by the caller; becomes excerpts/<name>.log.
struct Excerpt {
  std::string name;
  std::string text;
};

struct Contents {
  nlohmann::json report;
  std::vector<Excerpt> excerpts;
  std::string host;
  std::chrono::system_clock::time_point created;
};

// Contents for a report the worker made, created now; host is the report's
// "host" (the worker's view), else this machine's name.
// The redacted log lines the report's log scan kept as samples, one
// excerpts/<rule>.log per matched rule.
std::vector<Excerpt> log_excerpts(const nlohmann::json& report);
// When `excerpts` is empty, the report's own log_excerpts() are used.
Contents contents_for(nlohmann::json report, std::vector<Excerpt> excerpts);

// What was written: the archive's size and lower-hex SHA-256.
struct Written {
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;
};

// A member name made safe: every byte outside [A-Za-z0-9._-] becomes '_',
// a dot after a dot becomes '_' (so never ".."), and a leading dot gets a
// '_' before it; an empty name becomes "_".
std::string safe_member_name(std::string_view name);

// The archive's bytes: report.json, excerpts/*.log, manifest.json and
// manifest.json.sshsig, each mode 0644, owner 0/0, mtime = created.
Result<std::string> build(const Contents& contents, const Ed25519PrivateKey& seal_key);

// build() written to path through a temporary file beside it (mode 0600,
// fsynced, renamed, directory fsynced); an existing path is never replaced
// (reason "exists").
Result<Written> write(const std::string& path, const Contents& contents,
                      const Ed25519PrivateKey& seal_key);

}  // namespace rdiag::agent::bundle
