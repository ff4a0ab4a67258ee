#include "console/bundle_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ostream>

#include "common/digest.h"
#include "common/fs.h"
#include "common/i18n.h"
#include "common/ssh_key.h"
#include "common/text_safety.h"
#include "console/diag_commands.h"
#include "console/exit_codes.h"
#include "console/site_call.h"
#include "console/site_session.h"
#include "console/sites.h"

namespace rdiag::console {
namespace {

using nlohmann::json;
using rdiag::i18n::tr;

constexpr std::int64_t kChunk = std::int64_t{1} << 20;
// Far above any bundle of a report (64 MiB at most) and its excerpts: an
// answer claiming more is not trusted with our memory.
constexpr std::uint64_t kMaxBundleBytes = std::uint64_t{1} << 30;

struct Made {
  std::string file;
  std::uint64_t size = 0;
  std::string sha256;
};

Result<Made> made_of(const json& r) {
  Made m;
  if (r.is_object() && r.value("file", json()).is_string() &&
      r.value("size", json()).is_number_unsigned() && r.value("sha256", json()).is_string()) {
    m = {r["file"].get<std::string>(), r["size"].get<std::uint64_t>(),
         r["sha256"].get<std::string>()};
  }
  // The name and digest are printed and sent back: only the shapes the agent
  // makes are taken, never text that could drive the terminal.
  const bool name_ok = m.file.size() <= 20 && m.file.rfind("bundle-", 0) == 0 &&
                       m.file.find_first_not_of("bundle-0123456789.targz") == std::string::npos;
  const bool hex_ok =
      m.sha256.size() == 64 && m.sha256.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!name_ok || !hex_ok || m.size > kMaxBundleBytes) {
    return make_error(tr("console.bundle.bad_answer", terminal_safe(r.dump())),
                      "agent_inconsistent");
  }
  return m;
}

// Fetches the whole bundle, redrawing "got / total" as it goes.
Result<std::string> fetch(SshClient& client, const Made& m, Context& ctx) {
  std::string bytes;
  for (bool eof = false; !eof;) {
    auto got = client.call("file.read", {{"file", m.file},
                                         {"offset", static_cast<std::int64_t>(bytes.size())},
                                         {"length", kChunk}});
    if (!got) return got.error();
    const json data = got->is_object() ? got->value("data", json()) : json();
    auto decoded =
        data.is_string() ? base64_decode(data.get<std::string>()) : Result<Bytes>(make_error(""));
    eof = got->is_object() && got->value("eof", false);
    // An empty chunk before the end would loop for ever; more than announced is not our bundle.
    if (!decoded || (decoded->empty() && !eof) || bytes.size() + decoded->size() > m.size) {
      return make_error(tr("console.bundle.bad_chunk", m.file, bytes.size()), "agent_inconsistent");
    }
    bytes.append(decoded->begin(), decoded->end());
    const std::string line = transfer_text(bytes.size(), m.size);
    ctx.err << (ctx.err_is_terminal ? "\r\x1b[K" + line : line + "\n") << std::flush;
  }
  if (ctx.err_is_terminal) ctx.err << "\r\x1b[K" << std::flush;
  return bytes;
}

// O_EXCL: a file that appeared meanwhile is still never replaced.
Result<void> save(const std::string& path, const std::string& bytes) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) return make_error(tr("console.bundle.write_failed", path, errno_text(errno)));
  if (!write_all(fd.get(), bytes) || ::fsync(fd.get()) != 0 || !fd.close_checked()) {
    const int err = errno;
    ::unlink(path.c_str());
    return make_error(tr("console.bundle.write_failed", path, errno_text(err)));
  }
  (void)fsync_parent_dir(path);
  return {};
}

}  // namespace

std::string transfer_text(std::uint64_t got, std::uint64_t total) {
  auto mib = [](std::uint64_t b) {
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "%.1f MiB", static_cast<double>(b) / (1024.0 * 1024.0));
    return std::string(buf.data());
  };
  return tr("console.bundle.fetching", mib(got), mib(total));
}

int run_bundle(const Invocation& inv, Context& ctx) {
  struct stat st {};
  if (::lstat(inv.bundle.out.c_str(), &st) == 0) {
    return report_failure(
        ctx, make_error(tr("console.bundle.out_exists", terminal_safe(inv.bundle.out))));
  }
  return with_site(inv, ctx, [&inv, &ctx](SshClient& client) -> int {
    auto created =
        call_with_progress(client, ctx, "bundle.create", json::object(), kWorkerCallTimeout);
    if (!created) return report_failure(ctx, created.error(), client.last_rpc_code());
    auto made = made_of(*created);
    if (!made) return report_failure(ctx, made.error());
    auto bytes = fetch(client, *made, ctx);
    if (!bytes) return report_failure(ctx, bytes.error(), client.last_rpc_code());
    if (bytes->size() != made->size || sha256_hex(*bytes) != made->sha256) {
      return report_failure(ctx,
                            make_error(tr("console.bundle.hash_mismatch", made->file, made->sha256),
                                       "agent_inconsistent"));
    }
    if (auto r = save(inv.bundle.out, *bytes); !r) return report_failure(ctx, r.error());
    if (ctx.global.json) {
      ctx.out
          << json{{"file", inv.bundle.out}, {"size", made->size}, {"sha256", made->sha256}}.dump()
          << "\n";
    } else {
      ctx.out << tr("console.bundle.written", terminal_safe(inv.bundle.out), made->size,
                    made->sha256)
              << "\n";
    }
    return kExitOk;
  });
}

}  // namespace rdiag::console
