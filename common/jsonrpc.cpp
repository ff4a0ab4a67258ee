#include "common/jsonrpc.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/text_safety.h"

namespace rdiag::rpc {
namespace {

using nlohmann::json;
using LineFn = std::function<void(std::string_view)>;

// Replace, not strict: a reply must never fail to serialise because a
// plugin or a log line handed us bytes that are not UTF-8.
std::string compact(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string compact_string(std::string_view text) {
  return compact(json(std::string(text)));
}

// Hands over the buffered head plus this tail as one line. The buffer is
// emptied before the callback runs so a throwing or re-entrant callback
// cannot leave a stale half line behind.
void deliver(std::string& buf, std::string_view tail, const LineFn& on_line) {
  std::string joined;
  std::string_view line = tail;
  if (!buf.empty()) {
    joined = std::exchange(buf, std::string());
    joined.append(tail);
    line = joined;
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.empty()) on_line(line);
}

ParseFailure failure(int code, std::string reason, std::string detail, json id = nullptr) {
  return ParseFailure{code, std::move(reason), std::move(detail), std::move(id)};
}

bool valid_id(const json& id) {
  return id.is_string() || id.is_number_integer() || id.is_null();
}

// The id of a request too deep to build: a second parse that drops every
// nested value as it goes, so only the top-level scalars are kept. The
// parser itself is iterative, so depth cannot hurt it.
json shallow_id(std::string_view line) {
  const json::parser_callback_t top_level_only = [](int depth, json::parse_event_t event, json&) {
    const bool opens =
        event == json::parse_event_t::object_start || event == json::parse_event_t::array_start;
    return depth == 0 || !opens;
  };
  try {
    const json doc = json::parse(line, top_level_only, false);
    if (!doc.is_object()) return nullptr;
    const auto id = doc.find("id");
    if (id != doc.end() && valid_id(*id)) return *id;
  } catch (const json::exception&) {  // best effort: no id then
  }
  return nullptr;
}

// Everything about the envelope except the id, which the caller checked.
std::optional<ParseFailure> check_envelope(const json& doc, const json& id) {
  const auto version = doc.find("jsonrpc");
  if (version == doc.end() || *version != "2.0") {
    return failure(kInvalidRequest, "bad_version", "\"jsonrpc\" must be \"2.0\"", id);
  }
  const auto method = doc.find("method");
  if (method == doc.end() || !method->is_string() ||
      method->get_ref<const std::string&>().empty()) {
    return failure(kInvalidRequest, "bad_method", "\"method\" must be a non-empty string", id);
  }
  const auto params = doc.find("params");
  if (params != doc.end() && !params->is_object() && !params->is_array()) {
    return failure(kInvalidRequest, "bad_params", "\"params\" must be an object or an array", id);
  }
  return std::nullopt;
}

std::variant<Request, ParseFailure> to_request(json& doc) {
  if (doc.is_array()) {
    return failure(kInvalidRequest, "batch_not_supported", "batch requests are not supported");
  }
  if (!doc.is_object()) {
    return failure(kInvalidRequest, "not_an_object", "a request must be a JSON object");
  }
  const auto id = doc.find("id");
  const bool has_id = id != doc.end();
  if (has_id && !valid_id(*id)) {
    return failure(kInvalidRequest, "bad_id", "\"id\" must be a string, an integer or null");
  }
  json reply_id = has_id ? *id : json(nullptr);
  if (auto bad = check_envelope(doc, reply_id)) return std::move(*bad);
  Request request{std::move(reply_id), !has_id, std::move(doc["method"].get_ref<std::string&>()),
                  nullptr};
  if (const auto params = doc.find("params"); params != doc.end()) {
    request.params = std::move(*params);
  }
  return request;
}

}  // namespace

void LineAssembler::feed(std::string_view bytes, const LineFn& on_line,
                         const std::function<void()>& on_oversized) {
  while (!bytes.empty()) {
    const std::size_t nl = bytes.find('\n');
    const bool complete = nl != std::string_view::npos;
    const std::string_view chunk = bytes.substr(0, complete ? nl : bytes.size());
    bytes.remove_prefix(complete ? nl + 1 : bytes.size());
    if (discarding_) {
      discarding_ = !complete;
    } else if (chunk.size() > max_ - buf_.size()) {  // buf_ never exceeds max_
      std::string().swap(buf_);                      // give the memory back, not just the size
      discarding_ = !complete;
      on_oversized();
    } else if (complete) {
      deliver(buf_, chunk, on_line);
    } else {
      buf_.append(chunk);
    }
  }
}

int nesting_depth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::variant<Request, ParseFailure> parse_request(std::string_view line, int max_depth) {
  if (nesting_depth(line, max_depth) > max_depth) {
    return failure(kInvalidRequest, "too_deep",
                   "nesting deeper than " + std::to_string(max_depth) + " levels",
                   shallow_id(line));
  }
  // nlohmann rejects bad UTF-8 inside strings too; checking first gives a
  // clearer detail and does not depend on the parser's strictness.
  if (const auto bad = first_invalid_utf8(line)) {
    return failure(kParseError, "parse_error", "invalid UTF-8 at byte " + std::to_string(*bad));
  }
  json doc;
  try {
    doc = json::parse(line);
  } catch (const json::exception& e) {
    // what() quotes the input it choked on; keep it from steering a log viewer.
    return failure(kParseError, "parse_error", terminal_safe(e.what()));
  }
  return to_request(doc);
}

std::string result_line(const nlohmann::json& id, const nlohmann::json& result) {
  // Built by hand so the envelope keeps the order people expect to read
  // (nlohmann::json sorts keys) and a large result is not copied into a
  // temporary tree first.
  std::string out = R"({"jsonrpc":"2.0","id":)";
  out += compact(id);
  out += R"(,"result":)";
  out += compact(result);
  out += "}\n";
  return out;
}

std::string error_line(const nlohmann::json& id, int code, std::string_view reason,
                       std::string_view message) {
  std::string out = R"({"jsonrpc":"2.0","id":)";
  out += compact(id);
  out += R"(,"error":{"code":)";
  out += std::to_string(code);
  out += R"(,"message":)";
  out += compact_string(message);
  out += R"(,"data":{"reason":)";
  out += compact_string(reason);
  out += "}}}\n";
  return out;
}

std::string notification_line(std::string_view method, const nlohmann::json& params) {
  std::string out = R"({"jsonrpc":"2.0","method":)";
  out += compact_string(method);
  // JSON-RPC allows params to be left out but not to be null.
  if (!params.is_null()) {
    out += R"(,"params":)";
    out += compact(params);
  }
  out += "}\n";
  return out;
}

}  // namespace rdiag::rpc
