// The console's data directory and the small file helpers its stores share.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace rdiag::console {

// $HOME, else the password database's home; "" if neither is known.
std::string home_directory();

// --data-dir when given, else $XDG_DATA_HOME/rdiag, else ~/.local/share/rdiag.
// Only computes the path; ensure_private_dir() creates it.
Result<std::string> default_data_dir();

// Creates dir (and missing parents) with mode 0700; an existing dir is kept.
Result<void> ensure_private_dir(const std::string& dir);

// Whole file as bytes. A missing file is reported with reason "not_found".
Result<std::string> read_text_file(const std::string& path);

// Creates path empty with mode 0600 unless it exists; an existing file is kept.
Result<void> create_private_file(const std::string& path);

// Replaces path with content so a crash leaves either the old or the new file,
// never a torn one: a temporary file beside it, fsync, rename, fsync of the dir.
Result<void> write_file_atomic(const std::string& path, std::string_view content,
                               unsigned mode = 0600);

}  // namespace rdiag::console
