#include "agent/rpc_worker.h"

#include <sys/stat.h>
#include <unistd.h>

#include "agent/consent/consent.h"
#include "agent/records/store.h"
#include "agent/rpc_params.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/i18n.h"
#include "common/jsonrpc.h"

namespace rdiag::agent {
namespace {

using json = nlohmann::json;
using namespace rpcp;  // NOLINT(google-build-using-namespace): the method toolkit

constexpr std::size_t kMaxResults = 10000;  // of one kind in one session

// <prefix>-N with N one past the highest that exists: ids are never reused
// in a session, so an id an engineer noted always names the same result.
std::size_t next_number(const RpcContext& ctx, const std::string& sid, std::string_view prefix) {
  std::size_t n = 1;
  struct stat st {};
  while (n <= kMaxResults && ::lstat(result_path(ctx, sid, prefix, n).c_str(), &st) == 0) ++n;
  return n;
}

json write_failed(const std::string& path, int err) {
  return fail(rpc::kRecordingFailed, "recording_failed",
              i18n::tr("agent.diag.report_write", path, errno_text(err)));
}

}  // namespace

json base_job(const AgentConfig& config, std::string_view kind) {
  return {{"kind", kind},
          {"lang", i18n::lang() == i18n::Lang::kZhCN ? "zh_CN" : "en"},
          {"plugins_dirs", config.plugins_dirs},
          {"trusted_uid", ::geteuid()},
          {"logs", config.raw.value("logs", json::array())},
          {"redact", config.raw.value("redact", json::array())}};
}

json job_failed(const Error& e) {
  // The worker's own refusals of what the engineer asked for.
  for (const char* reason : {"unknown_collector", "unknown_source", "unknown_rule", "bad_pattern",
                             "too_costly", "bad_job"}) {
    if (e.reason == reason) return fail(rpc::kInvalidParams, e.reason, e.message);
  }
  if (e.reason == "too_many_jobs") return fail(rpc::kLimitExceeded, e.reason, e.message);
  return fail(rpc::kInternalError, e.reason.empty() ? "worker_failed" : e.reason,
              i18n::tr("agent.diag.worker_failed", e.message));
}

const consent::Grant* grant_for(const RpcContext& ctx, const RpcCaller& caller) {
  return ctx.consent == nullptr ? nullptr : ctx.consent->grant_of(caller.engineer.fingerprint);
}

json no_grant() {
  return fail(rpc::kNoGrant, "no_grant", i18n::tr("consent.flow.no_grant"));
}

std::string result_path(const RpcContext& ctx, const std::string& sid, std::string_view prefix,
                        std::size_t n) {
  return ctx.store->session_dir(sid) + "/" + std::string(prefix) + "-" + std::to_string(n) +
         ".json";
}

// Writes the document durably, then records it; only then is it acknowledged.
json record_result(const RpcContext& ctx, const RpcCaller& caller, std::string_view prefix,
                   std::string_view event, json doc, const json& summary) {
  // The grant may have ended while the worker ran: then nothing is kept.
  const consent::Grant* g = grant_for(ctx, caller);
  if (g == nullptr) return no_grant();
  if (ctx.store == nullptr) {
    return fail(rpc::kRecordingFailed, "recording_failed", i18n::tr("agent.rpc.recording_failed"));
  }
  const std::string sid = g->session_id;
  const std::size_t n = next_number(ctx, sid, prefix);
  if (n > kMaxResults) {
    return fail(rpc::kLimitExceeded, "too_many_reports",
                i18n::tr("agent.diag.too_many_reports", kMaxResults));
  }
  const std::string id = std::string(prefix) + "-" + std::to_string(n);
  const std::string id_key = std::string(prefix) + "_id";
  doc[id_key] = id;
  doc["session_id"] = sid;
  const std::string text = doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  const std::string path = result_path(ctx, sid, prefix, n);
  if (int err = write_file_atomic(path, text, 0600, IfExists::kKeep); err != 0) {
    return write_failed(path, err);
  }
  if (int err = fsync_parent_dir(path); err != 0) {
    ::unlink(path.c_str());  // not durable, so not kept
    return write_failed(path, err);
  }
  json data = {{id_key, id},
               {"file", id + ".json"},
               {"sha256", sha256_hex(text)},
               {"bytes", text.size()},
               {"summary", summary}};
  auto recorded = ctx.store->append(sid, std::string(event),
                                    "engineer:" + caller.engineer.fingerprint, std::move(data));
  if (!recorded) {
    ::unlink(path.c_str());  // not recorded, so not kept: the record is the truth
    return fail(rpc::kRecordingFailed, "recording_failed", recorded.error().message);
  }
  return ok({{id_key, id}, {"session_id", sid}, {"summary", summary}});
}

}  // namespace rdiag::agent
