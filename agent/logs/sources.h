// Log sources (DESIGN "Diagnostics": Log sources): what agent.json "logs"
// and the plugins name, and the files a source means right now - the
// current file of every glob match plus its rotated siblings (`X.1`,
// `X.2.gz`, `X-20261127`, `X-20261127.gz`), oldest first, current last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/logs/since.h"
#include "agent/plugins/manifest.h"
#include "common/redact/encoding.h"
#include "common/result.h"

namespace rdiag::agent::logs {

// Bounds per source and call, so one runaway log cannot eat the worker's
// deadline: the newest files win, and the result says it was cut.
inline constexpr std::size_t kMaxFilesPerSource = 64;
inline constexpr std::uint64_t kMaxBytesPerSource = std::uint64_t{2} << 30;

enum class SourceKind { kFiles, kJournal };

struct Source {
  std::string name;
  SourceKind kind = SourceKind::kFiles;
  std::vector<std::string> globs;  // kFiles: absolute glob(3) patterns
  redact::Encoding encoding = redact::Encoding::kAuto;
  std::vector<std::string> units;  // kJournal: _SYSTEMD_UNIT values (OR); empty: all
  std::string origin;              // "config" or "plugin:<name>"
};

struct SourceSet {
  std::vector<Source> sources;     // agent.json's first, then each plugin's
  std::vector<std::string> notes;  // name clashes, already translated
};

// agent.json "logs": [{name, paths: [globs], encoding?} | {name, journal:
// {units: [...]}}]. Errors name the entry index and the field
// ("agent.json logs[1].paths[0]: ..."), reason "bad_config".
Result<std::vector<Source>> parse_config_logs(const nlohmann::json& logs);

// The config's sources, then every plugin's under the name it gives. A
// plugin log named like a config log is dropped (the config is what customer
// IT wrote for this host) and a note says so.
SourceSet merge_sources(std::vector<Source> config, const std::vector<plugins::Plugin>& found);

const Source* find_source(const SourceSet& set, std::string_view name);
std::string source_names(const SourceSet& set);  // "erp, postgresql" or "(none)"

struct LogFile {
  std::string path;
  bool gz = false;       // read through zlib
  bool current = false;  // not a rotated sibling
  EpochMs mtime = 0;
};

struct FileList {
  std::vector<LogFile> files;  // per current file: oldest rotation first, current last
  bool cut = false;            // more than kMaxFilesPerSource; the oldest were left out
  // Not regular files (FIFOs, folders), unreadable ones: path (or glob), why.
  std::vector<std::pair<std::string, Error>> skipped;
};

// Expands the source's globs, adds rotated siblings, drops files not
// modified since `since` and stats everything without opening it (a FIFO
// costs nothing here). Never throws.
FileList list_files(const Source& source, std::optional<EpochMs> since);

// For tests and the ordering above: where a file name sits in its rotation
// family. "erp.log.2.gz" -> base "erp.log", gz; nullopt for a current file.
struct Rotation {
  std::string base;
  int rank_class = 0;      // 0 dated (-YYYYMMDD), 1 numbered (.N)
  std::int64_t order = 0;  // ascending = older first
  bool gz = false;
};
std::optional<Rotation> rotation_of(std::string_view file_name);

}  // namespace rdiag::agent::logs
