#include "common/redact/regex.h"

#include <array>

#include "common/i18n.h"

namespace rdiag::redact::detail {
namespace {

// Enough pairs for every built-in pattern; a user pattern with more groups
// still matches (PCRE2 then fills what fits).
constexpr std::uint32_t kOvectorPairs = 16;

std::string pcre_message(int code) {
  std::array<PCRE2_UCHAR, 256> buf{};
  pcre2_get_error_message(code, buf.data(), buf.size());
  return {reinterpret_cast<const char*>(buf.data())};
}

hs_database_t* compile_once(const std::vector<HsDatabase::Expr>& exprs,
                            const std::vector<bool>& prefilter, HsDatabase::Failure* failure) {
  std::vector<const char*> patterns;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    patterns.push_back(exprs[i].pattern.c_str());
    // UTF8: '.' and classes take whole characters, as in PCRE2's UTF mode.
    // MULTILINE: ^ and $ hold at each line of a block, as on a single line.
    unsigned f = HS_FLAG_UTF8 | HS_FLAG_MULTILINE;
    if (exprs[i].caseless) f |= HS_FLAG_CASELESS;
    if (prefilter[i]) f |= HS_FLAG_PREFILTER;
    flags.push_back(f);
    ids.push_back(static_cast<unsigned>(i));
  }
  if (const int helper = compile_helper_fd(); helper >= 0) {
    return compile_with_helper(helper, patterns, flags, failure);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc =
      hs_compile_multi(patterns.data(), flags.data(), ids.data(),
                       static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK, nullptr, &db, &err);
  if (rc == HS_SUCCESS) return db;
  failure->message = err->message;
  if (err->expression < 0) {
    failure->whole = true;
    failure->reason = "too_costly";
  } else {
    failure->index = static_cast<std::size_t>(err->expression);
  }
  hs_free_compile_error(err);
  return nullptr;
}

}  // namespace

MatchData make_match_data() {
  return {pcre2_match_data_create(kOvectorPairs, nullptr), pcre2_match_data_free};
}

std::optional<Pcre> Pcre::compile(std::string_view pattern, bool caseless, std::string* error) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  std::uint32_t options = PCRE2_UTF;  // patterns come from config: let PCRE2 check them
  if (caseless) options |= PCRE2_CASELESS;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 options, &code, &offset, nullptr);
  if (re == nullptr) {
    *error = pcre_message(code) + " (at offset " + std::to_string(offset) + ")";
    return std::nullopt;
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // without JIT it still works, slower
  Pcre p;
  p.code_.reset(re, pcre2_code_free);
  return p;
}

std::size_t next_char(std::string_view text, std::size_t pos) {
  while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
  return pos;
}

std::optional<Match> Pcre::find(std::string_view text, std::size_t from, MatchData& md,
                                bool* error) const {
  // Callers hand in valid UTF-8 only (everything is decoded first).
  const int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(),
                             from, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
  if (rc < 0) {
    if (error != nullptr) *error = rc != PCRE2_ERROR_NOMATCH;
    return std::nullopt;
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
  // rc == 0: more groups than the ovector holds; the ones it holds are set.
  const std::uint32_t pairs = rc == 0 ? kOvectorPairs : static_cast<std::uint32_t>(rc);
  const Span whole{ov[0], ov[1]};
  for (std::size_t g = 1; g < pairs; ++g) {
    if (ov[2 * g] != PCRE2_UNSET) return Match{whole, Span{ov[2 * g], ov[2 * g + 1]}};
  }
  return Match{whole, whole};
}

bool Pcre::matches(std::string_view text, MatchData& md) const {
  return pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                     PCRE2_NO_UTF_CHECK, md.get(), nullptr) >= 0;
}

std::optional<Error> HsDatabase::general_error(const Failure& failure) {
  if (failure.message.empty()) return make_error(i18n::tr("common.redact.no_memory"), "no_memory");
  if (!failure.whole) return std::nullopt;
  return make_error(i18n::tr("common.redact.compile_failed", failure.message),
                    failure.reason.empty() ? "too_costly" : failure.reason);
}

std::optional<HsDatabase> HsDatabase::build(const std::vector<Expr>& exprs, Failure* failure) {
  std::vector<bool> prefilter(exprs.size(), false);
  std::vector<std::string> plain_message(exprs.size());
  // Each retry turns prefilter mode on for one more expression, so this ends.
  for (std::size_t attempt = 0; attempt <= exprs.size(); ++attempt) {
    Failure f;
    hs_database_t* db = compile_once(exprs, prefilter, &f);
    if (db != nullptr) {
      HsDatabase out;
      out.db_.reset(db, hs_free_database);
      hs_scratch_t* scratch = nullptr;
      if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) return std::nullopt;
      out.prototype_.reset(scratch, hs_free_scratch);
      return out;
    }
    if (f.whole || prefilter[f.index]) {
      // Prefilter mode did not help: report what the plain compile said.
      if (!f.whole && !plain_message[f.index].empty()) f.message = plain_message[f.index];
      *failure = f;
      return std::nullopt;
    }
    plain_message[f.index] = f.message;
    prefilter[f.index] = true;
  }
  return std::nullopt;
}

std::shared_ptr<hs_scratch_t> HsDatabase::new_scratch() const {
  hs_scratch_t* s = nullptr;
  if (hs_clone_scratch(prototype_.get(), &s) != HS_SUCCESS) return nullptr;
  return {s, hs_free_scratch};
}

bool HsDatabase::scan(std::string_view text, hs_scratch_t* scratch,
                      const std::function<void(unsigned, unsigned long long)>& on_match) const {
  auto handler = [](unsigned id, unsigned long long, unsigned long long to, unsigned,
                    void* ctx) -> int {
    (*static_cast<const std::function<void(unsigned, unsigned long long)>*>(ctx))(id, to);
    return 0;  // never stop early: every line of the block needs its flags
  };
  if (scratch == nullptr) return false;
  return hs_scan(db_.get(), text.data(), static_cast<unsigned>(text.size()), 0, scratch, handler,
                 const_cast<std::function<void(unsigned, unsigned long long)>*>(&on_match)) ==
         HS_SUCCESS;
}

}  // namespace rdiag::redact::detail
