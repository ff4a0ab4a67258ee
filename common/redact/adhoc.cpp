// Ad-hoc patterns from an engineer (logs.scan "patterns"). They get a
// database of their own and only ever run on redacted text (Engine::Scan),
// so a pattern like "password=a" cannot tell whether the secret was "a".
#include "common/i18n.h"
#include "common/redact/engine_core.h"
#include "common/text_safety.h"

namespace rdiag::redact {

Result<AdHoc> compile_adhoc(const std::vector<std::string>& patterns) {
  auto core = std::make_shared<detail::AdHocCore>();
  std::vector<detail::HsDatabase::Expr> exprs;
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    std::string why;
    auto pcre = detail::Pcre::compile(patterns[i], false, &why);
    if (!pcre) {
      return make_error(
          i18n::tr("common.redact.bad_adhoc", i + 1, sanitize_utf8(patterns[i]), "PCRE2", why),
          "bad_pattern");
    }
    core->exact.push_back(std::move(*pcre));
    exprs.push_back(detail::HsDatabase::Expr{patterns[i], false});
  }
  core->patterns = patterns;
  AdHoc out;
  if (patterns.empty()) return out;  // nothing to look for; scans skip it
  detail::HsDatabase::Failure failure;
  auto db = detail::HsDatabase::build(exprs, &failure);
  if (!db) {
    if (auto general = detail::HsDatabase::general_error(failure)) return *general;
    return make_error(
        i18n::tr("common.redact.bad_adhoc", failure.index + 1,
                 sanitize_utf8(patterns[failure.index]), "Vectorscan", failure.message),
        "bad_pattern");
  }
  core->db = std::move(*db);
  out.core_ = std::move(core);
  return out;
}

std::size_t AdHoc::size() const {
  return core_ ? core_->exact.size() : 0;
}

}  // namespace rdiag::redact
