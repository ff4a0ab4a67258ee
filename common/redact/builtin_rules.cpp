#include "common/redact/builtin_rules.h"

#include <array>

namespace rdiag::redact::detail {
namespace {

// Values end at whitespace, a quote, ',', ';' or '&' (query strings, lists);
// a quoted value is taken whole, spaces included.
#define RDIAG_VALUE R"(("[^"]*"|'[^']*'|[^\s"',;&]+))"
#define RDIAG_SEP R"(["']?\s*(?:[:=]|：)\s*)"
#define RDIAG_KEYS R"((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|密码|口令))"

constexpr std::array kRules = {
    // Connection strings first: an ODBC value runs to ';' and may hold
    // spaces or braces, which the generic password rule would cut short.
    BuiltinRule{"jdbc-odbc",
                R"(jdbc:[a-z0-9]+:\S*[;?&:](?:password|pwd)=[^;&\s]|)"
                R"(jdbc:oracle:[a-z]+:[^/\s@:;]*/[^@\s]+@|;\s*(?:pwd|password)\s*=\s*[^;\s])",
                R"(jdbc:[a-z0-9]+:\S*?[;?&:](?:password|pwd)=([^;&\s]+)|)"
                R"(jdbc:oracle:[a-z]+:[^/\s@:;]*/([^@\s]+)@|)"
                R"(;\s*(?:pwd|password)\s*=\s*(\{[^}]*\}|[^;\s][^;]*))",
                true},
    // mysql -pSECRET, --password=SECRET, --password SECRET. "-p" glued to a
    // word is redacted even when it is not a password (gcc -pthread): fail closed.
    BuiltinRule{"cli-password", R"((?:^|\s)(?:-p[^\s-]|--(?:password|passwd|pass)(?:=|\s+)\S))",
                R"((?:^|\s)(?:-p([^\s-]\S*)|--(?:password|passwd|pass)(?:=|\s+)(\S+)))"},
    // scheme://user:PASS@host: only the password goes.
    BuiltinRule{"url-password", R"(://[^/\s:@]*:[^/\s@]+@)",
                R"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@)"},
    BuiltinRule{"cloud-secret",
                R"((?:secret_?access_?key|access_?key_?secret|secret_?key|secret_?id))" RDIAG_SEP
                R"(["']?[A-Za-z0-9/+=]{16})",
                R"((?:secret_?access_?key|access_?key_?secret|secret_?key|secret_?id))" RDIAG_SEP
                R"(["']?([A-Za-z0-9/+=]{16,}))",
                true},
    BuiltinRule{"aws-key", R"(\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)", R"(\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)"},
    BuiltinRule{"aliyun-key", R"(\bLTAI[0-9A-Za-z]{12,20}\b)", R"(\bLTAI[0-9A-Za-z]{12,20}\b)"},
    BuiltinRule{"tencent-key", R"(\bAKID[0-9A-Za-z]{32}\b)", R"(\bAKID[0-9A-Za-z]{32}\b)"},
    // Eight characters at least, so "the bearer of" stays readable.
    BuiltinRule{
        "bearer", R"(\bbearer\s+[A-Za-z0-9._~+/=-]{8}|authorization\s*:\s*basic\s+[A-Za-z0-9+/=])",
        R"(\bbearer\s+([A-Za-z0-9._~+/=-]{8,})|authorization\s*:\s*basic\s+([A-Za-z0-9+/=]+))",
        true},
    BuiltinRule{"jwt", R"(\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.)",
                R"(\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"},
    BuiltinRule{"password", RDIAG_KEYS RDIAG_SEP R"([^\s,;&]|<)" RDIAG_KEYS R"(>[^<])",
                // key=value, key: value, "key": "value", and <key>value</key> (XML configs).
                RDIAG_KEYS RDIAG_SEP RDIAG_VALUE R"(|<)" RDIAG_KEYS R"(>([^<]+)<)", true},
    // 身份证号: region, birth date 18xx-20xx, sequence, check character.
    BuiltinRule{"id-card", "",
                R"((?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2]))"
                R"((?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9]))",
                false, Check::kIdCard},
    BuiltinRule{"bank-card", "",
                R"((?<![0-9])(?:[0-9]{16,19}|[0-9]{4}(?:[ -][0-9]{4}){3}(?:[ -]?[0-9]{1,3})?))"
                R"((?![0-9]))",
                false, Check::kLuhn},
    // Mainland mobile numbers, optionally +86; never part of a longer number.
    BuiltinRule{"mobile", "", R"((?<![0-9])(?:\+86[ -]?)?(1[3-9][0-9]{9})(?![0-9]))"},
};

#undef RDIAG_VALUE
#undef RDIAG_SEP
#undef RDIAG_KEYS

}  // namespace

std::span<const BuiltinRule> builtin_rules() {
  return kRules;
}

}  // namespace rdiag::redact::detail
