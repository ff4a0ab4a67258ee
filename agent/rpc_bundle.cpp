#include "agent/rpc_bundle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "agent/bundle/bundle.h"
#include "agent/consent/consent.h"
#include "agent/records/store.h"
#include "agent/rpc_diag.h"
#include "agent/rpc_params.h"
#include "agent/rpc_worker.h"
#include "common/fs.h"
#include "common/i18n.h"
#include "common/jsonrpc.h"
#include "common/ssh_key.h"

namespace rdiag::agent {
namespace {

using json = nlohmann::json;
using namespace rpcp;  // NOLINT(google-build-using-namespace): the method toolkit

std::string bundle_name(std::size_t n) {
  return "bundle-" + std::to_string(n) + ".tar.gz";
}

// ^bundle-[0-9]{1,5}\.tar\.gz$ : the only names file.read serves for now
// (transfer files are a later door). Checked as text, so "../x", "/etc/x"
// and every other file of the record never reach the file system.
bool is_bundle_name(const std::string& s) {
  constexpr std::string_view kPrefix = "bundle-";
  constexpr std::string_view kSuffix = ".tar.gz";
  if (s.size() <= kPrefix.size() + kSuffix.size() || s.rfind(kPrefix, 0) != 0) return false;
  if (s.compare(s.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) return false;
  const std::string digits = s.substr(kPrefix.size(), s.size() - kPrefix.size() - kSuffix.size());
  return digits.size() <= 5 && digits.find_first_not_of("0123456789") == std::string::npos;
}

// One past the highest bundle-N that exists: a name is never reused, so a
// file an engineer fetched is always the one the record names.
std::size_t next_bundle_number(const std::string& dir) {
  std::size_t n = 1;
  struct stat st {};
  while (n <= kMaxBundles && ::lstat((dir + "/" + bundle_name(n)).c_str(), &st) == 0) ++n;
  return n;
}

json store_bundle(Store& store, const std::string& sid, const RpcCaller& caller,
                  const json& report) {
  const std::string dir = store.session_dir(sid);
  const std::size_t n = next_bundle_number(dir);
  if (n > kMaxBundles) {
    return fail(rpc::kLimitExceeded, "too_many_bundles",
                i18n::tr("agent.bundle.too_many", kMaxBundles));
  }
  const std::string file = bundle_name(n);
  auto written =
      bundle::write(dir + "/" + file, bundle::contents_for(report, {}), store.seal_key());
  if (!written) return fail(rpc::kRecordingFailed, "recording_failed", written.error().message);
  json data = {{"file", file}, {"size", written->size}, {"sha256", written->sha256}};
  auto recorded =
      store.append(sid, "bundle.created", "engineer:" + caller.engineer.fingerprint, data);
  if (!recorded) {
    ::unlink(written->path.c_str());  // not recorded, so not kept: the record is the truth
    return fail(rpc::kRecordingFailed, "recording_failed", recorded.error().message);
  }
  return ok(std::move(data));
}

struct ReadParams {
  std::string file;
  std::int64_t offset = 0;
  std::int64_t length = 0;
};

std::optional<json> parse_read(const json& params, ReadParams* p) {
  if (auto bad = check_keys(params, {"file", "offset", "length"})) return bad;
  if (auto bad = check_required(params, {"file", "offset", "length"})) return bad;
  const json& file = params["file"];
  if (!file.is_string() || !is_bundle_name(file.get<std::string>())) {
    return invalid(i18n::tr("agent.bundle.bad_file", echoed(file.dump())));
  }
  p->file = file.get<std::string>();
  auto offset = integer_in(params["offset"], 0, INT64_MAX);
  if (!offset) return invalid(i18n::tr("agent.bundle.bad_offset"));
  auto length = integer_in(params["length"], 1, static_cast<std::int64_t>(kMaxReadChunk));
  if (!length) return invalid(i18n::tr("agent.bundle.bad_length", kMaxReadChunk));
  p->offset = *offset;
  p->length = *length;
  return std::nullopt;
}

// The chunk at p.offset; O_NOFOLLOW and the regular-file check keep a link
// planted in the record folder from serving anything else.
json read_chunk(const std::string& path, const ReadParams& p) {
  auto not_found = [&] {
    return fail(rpc::kNotFound, "not_found", i18n::tr("agent.bundle.no_file", p.file));
  };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return not_found();
  std::string buf(static_cast<std::size_t>(std::min<std::int64_t>(
                      p.length, std::max<std::int64_t>(0, st.st_size - p.offset))),
                  '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::pread(fd.get(), buf.data() + got, buf.size() - got,
                              static_cast<off_t>(p.offset + static_cast<std::int64_t>(got)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return fail(rpc::kInternalError, "io_error",
                  i18n::tr("agent.bundle.read_failed", p.file, errno_text(errno)));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  const bool eof = p.offset + static_cast<std::int64_t>(got) >= st.st_size;
  return ok({{"data", base64_encode(reinterpret_cast<const std::uint8_t*>(buf.data()), buf.size())},
             {"eof", eof}});
}

}  // namespace

json bundle_create(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  if (auto bad = check_keys(params.is_null() ? json::object() : params, {})) {
    return failed(std::move(*bad));
  }
  json error;
  auto job = make_diag_job(ctx.config, json::object(), &error);
  if (!job) return failed(std::move(error));
  if (grant_for(ctx, caller) == nullptr) return no_grant();
  return {{"worker", std::move(*job)}};
}

json finish_bundle_create(const RpcContext& ctx, const RpcCaller& caller,
                          const Result<json>& outcome) {
  if (!outcome) return job_failed(outcome.error());
  if (!outcome->is_object()) {
    return job_failed(make_error(i18n::tr("agent.worker.bad_line"), "worker_output"));
  }
  // The grant may have ended while the worker ran: then nothing is kept.
  const consent::Grant* g = grant_for(ctx, caller);
  if (g == nullptr) return no_grant();
  if (ctx.store == nullptr) {
    return fail(rpc::kRecordingFailed, "recording_failed", i18n::tr("agent.rpc.recording_failed"));
  }
  return store_bundle(*ctx.store, g->session_id, caller, *outcome);
}

json file_read(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  ReadParams p;
  if (auto bad = parse_read(params, &p)) return failed(std::move(*bad));
  // The table lets `transfer` through for the transfer folder's files; a
  // bundle is diagnosis output and needs `diagnose`.
  if (ctx.consent == nullptr) return no_grant();
  if (auto refused = ctx.consent->check(caller.engineer.fingerprint, "diagnose")) {
    return failed(std::move(*refused));
  }
  const consent::Grant* g = grant_for(ctx, caller);
  if (g == nullptr || ctx.store == nullptr) return no_grant();
  return read_chunk(ctx.store->session_dir(g->session_id) + "/" + p.file, p);
}

}  // namespace rdiag::agent
