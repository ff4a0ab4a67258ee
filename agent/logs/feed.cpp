#include "agent/logs/feed.h"

#include <algorithm>
#include <string>

namespace rdiag::agent::logs {
namespace {

constexpr std::size_t kChunk = std::size_t{1} << 20;
constexpr std::size_t kMaxCarry = std::size_t{4} << 20;

// Whole lines of text through the since cut; returns how many were kept.
std::uint64_t filter_lines(std::string_view text, SinceFilter& filter, std::string& out) {
  std::uint64_t kept = 0;
  out.clear();
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    const std::string_view line = text.substr(pos, end - pos);
    if (filter.keep(line)) {
      out.append(line);
      ++kept;
    } else {
      out += '\n';
    }
    pos = end;
  }
  return kept;
}

}  // namespace

Result<FeedStats> feed_file(LogReader& reader, redact::Engine::Scan& scan, SinceFilter filter,
                            std::uint64_t budget, Deadline deadline) {
  FeedStats st;
  std::string buf(kChunk, '\0');
  std::string carry;  // a line cut by the chunk boundary (since cut only)
  std::string kept;
  bool last_nl = true;
  for (;;) {
    if (deadline && std::chrono::steady_clock::now() >= *deadline) {
      st.cut = st.out_of_time = true;
      break;
    }
    auto n = reader.read(buf.data(), buf.size());
    if (!n) return n.error();
    if (*n == 0) break;
    std::string_view chunk(buf.data(), *n);
    if (st.bytes + chunk.size() > budget) {
      // Stop at the last whole line inside the budget.
      chunk = chunk.substr(0, budget - st.bytes);
      const auto nl = chunk.rfind('\n');
      chunk = nl == std::string_view::npos ? std::string_view() : chunk.substr(0, nl + 1);
      st.cut = true;
    }
    st.bytes += chunk.size();
    if (!chunk.empty()) last_nl = chunk.back() == '\n';
    if (!filter.active()) {
      st.lines += static_cast<std::uint64_t>(std::count(chunk.begin(), chunk.end(), '\n'));
      scan.feed(chunk);
    } else {
      carry.append(chunk);
      auto nl = carry.rfind('\n');
      // A "line" this long without '\n' is not a log line; judge what we have
      // so memory stays bounded (the engine cuts such lines at 4 MiB too).
      if (nl == std::string::npos && carry.size() >= kMaxCarry) {
        carry += '\n';
        nl = carry.size() - 1;
      }
      if (nl != std::string::npos) {
        st.lines += filter_lines(std::string_view(carry).substr(0, nl + 1), filter, kept);
        scan.feed(kept);
        carry.erase(0, nl + 1);
      }
    }
    if (st.cut) break;
  }
  if (!carry.empty()) {
    st.lines += filter_lines(carry, filter, kept);
    scan.feed(kept);
  } else if (!filter.active() && !last_nl) {
    ++st.lines;  // the last line has no '\n'
  }
  return st;
}

}  // namespace rdiag::agent::logs
