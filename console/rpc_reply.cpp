#include "console/rpc_reply.h"

#include <algorithm>

#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::console {
namespace {

using rdiag::i18n::tr;

Error malformed() {
  return make_error(tr("console.rpc.malformed"), "bad_response");
}

// A reason is a stable snake_case word; anything else from the agent is dropped.
std::string clean_reason(const nlohmann::json& error) {
  auto data = error.find("data");
  if (data == error.end() || !data->is_object()) return {};
  auto reason = data->find("reason");
  if (reason == data->end() || !reason->is_string()) return {};
  const auto& text = reason->get_ref<const std::string&>();
  bool ok = text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
            });
  return ok ? text : std::string();
}

Result<Reply> error_reply(const nlohmann::json& error) {
  if (!error.is_object()) return malformed();
  auto code = error.find("code");
  auto message = error.find("message");
  if (code == error.end() || !code->is_number_integer()) return malformed();
  Reply reply;
  reply.kind = Reply::Kind::kError;
  reply.code = code->get<int>();
  reply.reason = clean_reason(error);
  if (message != error.end() && message->is_string()) {
    reply.message = terminal_safe(message->get_ref<const std::string&>());
  }
  return reply;
}

}  // namespace

std::optional<std::string> LineBuffer::next_line() {
  auto nl = buf_.find('\n', std::max(scanned_, start_));
  if (nl == std::string::npos) {
    // Forget the lines handed out so far, once per batch rather than once per
    // line, so a burst of small notifications does not cost a copy each.
    buf_.erase(0, start_);
    start_ = 0;
    scanned_ = buf_.size();
    return std::nullopt;
  }
  std::string line = buf_.substr(start_, nl - start_);
  start_ = scanned_ = nl + 1;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<Reply> interpret_reply(std::string_view line, std::int64_t id) {
  if (line.find_first_not_of(" \t") == std::string_view::npos) return Reply{};
  auto doc = nlohmann::json::parse(line, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return malformed();
  auto id_it = doc.find("id");
  if (id_it == doc.end()) {  // a notification: progress, session.state
    Reply reply;
    reply.notification = std::move(doc);
    return reply;
  }
  auto error = doc.find("error");
  bool ours = (id_it->is_number_integer() && id_it->get<std::int64_t>() == id) ||
              (id_it->is_null() && error != doc.end());
  if (!ours) return Reply{};
  if (error != doc.end()) return error_reply(*error);
  auto result = doc.find("result");
  if (result == doc.end()) return malformed();
  Reply reply;
  reply.kind = Reply::Kind::kResult;
  reply.result = std::move(*result);
  return reply;
}

std::string request_line(std::int64_t id, std::string_view method, const nlohmann::json& params) {
  nlohmann::json req = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
  return req.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace rdiag::console
