// Small pure checks the regexes cannot express: the check digits that tell a
// real 身份证号 or bank card number from any other run of digits, and the
// timestamp a log line starts with.
#pragma once

#include <string_view>

namespace rdiag::redact {

// An 18-character resident identity number (GB 11643) whose last character
// is the ISO 7064 MOD 11-2 check of the first 17 digits ('X' or 'x' for 10).
bool valid_id_card(std::string_view s);

// 13-19 digits (spaces and dashes between groups ignored) passing Luhn.
bool valid_luhn(std::string_view s);

// The timestamp text a log line starts with, or empty. Known shapes, each
// optionally inside '[': 2024-05-01 12:00:00 / 2024-05-01T12:00:00 /
// 2024/05/01 12:00:00 (then optional .123 or ,123 fraction and Z or +08:00 /
// +0800 offset), and syslog's "May  1 12:00:00".
std::string_view leading_timestamp(std::string_view line);

}  // namespace rdiag::redact
