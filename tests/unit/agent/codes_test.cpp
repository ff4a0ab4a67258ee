// One-time grant codes as an engineer and customer IT meet them: what may be
// typed, single use, the 15-minute life, the lockout after 5 wrong codes, codes
// named for one engineer, what is kept at rest, and the saved book.
#include "agent/consent/codes.h"

#include <gtest/gtest.h>

#include <set>

#include "common/i18n.h"
#include "common/records/event.h"

namespace rdiag::agent::consent {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const BootClock::time_point kT0 = BootClock::time_point{} + hours(50);
const std::chrono::system_clock::time_point kWall =
    std::chrono::sys_days{std::chrono::year{2026} / 11 / 28} + hours(6);
const Redeemer kLi{"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "E1024"};
const Redeemer kWang{"SHA256:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", "E2048"};
constexpr std::string_view kBoot = "6b1e2c1a-0f3d-4c55-9a1e-2b7d8f00aa01";

class Lang {
 public:
  explicit Lang(i18n::Lang l) { i18n::set_lang(l); }
  ~Lang() { i18n::set_lang(i18n::Lang::kEn); }
  Lang(const Lang&) = delete;
  Lang& operator=(const Lang&) = delete;
};

CodeBook new_book() {
  auto book = CodeBook::create();
  EXPECT_TRUE(book) << book.error().message;
  return std::move(book).value();
}

Issued issue(CodeBook& book, const std::vector<std::string>& scopes = {"diagnose"}, int mins = 60,
             const std::string& engineer = "", BootClock::time_point now = kT0) {
  auto issued = book.issue(scopes, mins, engineer, now, kWall);
  EXPECT_TRUE(issued) << issued.error().message;
  return std::move(issued).value();
}

// A well-formed code that is not `code` (last character changed).
std::string other_code(const std::string& code) {
  std::string out = code;
  out.back() = out.back() == 'Z' ? 'Y' : 'Z';
  return out;
}

// By value: the redemption passed in is usually a temporary.
Refused refused(const Redemption& r) {
  const auto* out = std::get_if<Refused>(&r);
  EXPECT_NE(out, nullptr) << "expected a refusal, the code was accepted";
  return out != nullptr ? *out : Refused{Refusal::kUnavailable, "granted, not refused", {}, 0, {}};
}

Redeemed granted(const Redemption& r) {
  const auto* out = std::get_if<Redeemed>(&r);
  EXPECT_NE(out, nullptr) << "refused: " << (out != nullptr ? "" : std::get<Refused>(r).message);
  return out != nullptr ? *out : Redeemed{};
}

TEST(GrantCode, GeneratedCodesAreEightCrockfordCharactersShownWithAHyphen) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto code = generate_code();
    ASSERT_TRUE(code);
    ASSERT_EQ(code->size(), 8U);
    EXPECT_EQ(code->find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos);
    const std::string shown = format_code(*code);
    EXPECT_EQ(shown.size(), 9U);
    EXPECT_EQ(shown[4], '-');
    auto back = normalize_code(shown);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, *code);
    seen.insert(*code);
  }
  EXPECT_GT(seen.size(), 195U) << "40 random bits should practically never repeat";
}

TEST(GrantCode, TypedCodesIgnoreCaseHyphensSpacesAndCrockfordAliases) {
  for (std::string_view typed :
       {"7KQ2-M9XD", "7kq2-m9xd", "7KQ2M9XD", "  7kq2m9xd\n", "7KQ2 M9XD", "7-K-Q-2-M-9-X-D"}) {
    auto code = normalize_code(typed);
    ASSERT_TRUE(code) << typed << ": " << code.error().message;
    EXPECT_EQ(*code, "7KQ2M9XD") << typed;
  }
  auto aliases = normalize_code("iLoO-ilo0");
  ASSERT_TRUE(aliases);
  EXPECT_EQ(*aliases, "11001100");
  // A Chinese input method types full-width letters, digits and dashes.
  auto wide = normalize_code(
      "\xEF\xBC\x97\xEF\xBC\xAB\xEF\xBD\x91\xEF\xBC\x92\xEF\xBC\x8D"
      "M9XD\xE3\x80\x80");  // ７Ｋｑ２－M9XD + ideographic space
  ASSERT_TRUE(wide) << wide.error().message;
  EXPECT_EQ(*wide, "7KQ2M9XD");
}

TEST(GrantCode, BadCharactersAreRefusedNamingTheCharacterAndPlace) {
  auto u = normalize_code("7KQ2-M9XU");
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().reason, "malformed");
  EXPECT_NE(u.error().message.find("character 9 "), std::string::npos) << u.error().message;
  EXPECT_NE(u.error().message.find("'U'"), std::string::npos) << u.error().message;

  auto underscore = normalize_code("7KQ2_M9XD");
  ASSERT_FALSE(underscore);
  EXPECT_NE(underscore.error().message.find("'_'"), std::string::npos);

  // A control character is named escaped, never sent raw to a terminal.
  auto esc = normalize_code("7KQ2\x1b[2JM9XD");
  ASSERT_FALSE(esc);
  EXPECT_EQ(esc.error().message.find('\x1b'), std::string::npos);
  EXPECT_NE(esc.error().message.find("\\x1b"), std::string::npos) << esc.error().message;

  auto not_utf8 = normalize_code(
      "7KQ2\xff"
      "M9XD");
  ASSERT_FALSE(not_utf8);
  EXPECT_EQ(not_utf8.error().reason, "malformed");
}

TEST(GrantCode, WrongLengthAndEmptyInputAreRefused) {
  auto short_code = normalize_code("7KQ2-M9X");
  ASSERT_FALSE(short_code);
  EXPECT_EQ(short_code.error().reason, "malformed");
  EXPECT_NE(short_code.error().message.find(" 7 "), std::string::npos)
      << short_code.error().message;
  auto long_code = normalize_code("7KQ2-M9XDA");
  ASSERT_FALSE(long_code);
  EXPECT_NE(long_code.error().message.find(" 9 "), std::string::npos);
  for (std::string_view empty : {"", "   ", " - "}) {
    auto r = normalize_code(empty);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, i18n::tr("consent.code.malformed.empty"));
  }
}

TEST(CodeBook, AValidCodeGrantsOnceThenIsRefusedAsUsed) {
  CodeBook book = new_book();
  const Issued issued = issue(book, {"shell", "diagnose"}, 90);
  EXPECT_EQ(issued.code.size(), 9U);
  EXPECT_EQ(issued.entry.scopes, (std::vector<std::string>{"diagnose", "shell"}));

  const Redeemed first = granted(book.redeem(issued.code, kLi, kT0 + minutes(3)));
  EXPECT_EQ(first.scopes, (std::vector<std::string>{"diagnose", "shell"}));
  EXPECT_EQ(first.minutes, 90);
  EXPECT_EQ(first.actor, issued.entry.actor());
  EXPECT_TRUE(records::is_valid_actor(first.actor)) << first.actor;
  EXPECT_EQ(first.actor, "code:" + issued.entry.hash.substr(0, 8));
  ASSERT_EQ(book.entries().size(), 1U);
  EXPECT_TRUE(book.entries()[0].used);
  EXPECT_EQ(book.entries()[0].used_by, kLi.fingerprint);

  // Lower case, no hyphen: the same code, and still used.
  std::string typed = issued.code;
  typed.erase(4, 1);
  for (auto& c : typed) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const Refused again = refused(book.redeem(typed, kWang, kT0 + minutes(4)));
  EXPECT_EQ(again.reason(), "used");
  EXPECT_EQ(again.code_actor, first.actor);
  EXPECT_NE(again.message.find("new code"), std::string::npos) << again.message;
}

TEST(CodeBook, ACodeExpiresExactlyFifteenMinutesAfterItIsMade) {
  CodeBook book = new_book();
  const Issued a = issue(book);
  const Issued b = issue(book);
  EXPECT_EQ(b.entry.expires, kT0 + minutes(15));
  EXPECT_EQ(b.entry.issued_at, "2026-11-28T06:00:00.000Z");
  EXPECT_EQ(b.entry.expires_at, "2026-11-28T06:15:00.000Z");

  granted(book.redeem(a.code, kLi, kT0 + minutes(15) - nanoseconds(1)));
  const Refused late = refused(book.redeem(b.code, kWang, kT0 + minutes(15)));
  EXPECT_EQ(late.reason(), "expired");
  EXPECT_NE(late.message.find("15 minutes"), std::string::npos) << late.message;
}

TEST(CodeBook, AWrongCodeIsRefusedAndTheRightOneStillWorks) {
  CodeBook book = new_book();
  const Issued issued = issue(book);
  const Refused wrong = refused(book.redeem(other_code(issued.code), kLi, kT0));
  EXPECT_EQ(wrong.reason(), "wrong");
  EXPECT_TRUE(wrong.code_actor.empty());
  EXPECT_EQ(wrong.failures, 1);
  EXPECT_FALSE(wrong.locked_until);
  EXPECT_NE(wrong.message.find("typing errors"), std::string::npos) << wrong.message;
  granted(book.redeem(issued.code, kLi, kT0 + seconds(10)));
}

TEST(CodeBook, FiveWrongCodesLockTheKeyForTheRestOfTheWindowEvenForARightCode) {
  CodeBook book = new_book();
  const Issued mine = issue(book);
  const Issued theirs = issue(book);
  const std::string bad = other_code(mine.code);
  for (int i = 0; i < 4; ++i) {
    const Refused r = refused(book.redeem(bad, kLi, kT0 + minutes(i)));
    EXPECT_EQ(r.reason(), "wrong");
    EXPECT_EQ(r.failures, i + 1);
    EXPECT_FALSE(r.locked_until);
  }
  const Refused fifth = refused(book.redeem(bad, kLi, kT0 + minutes(4)));
  EXPECT_EQ(fifth.reason(), "wrong");
  ASSERT_TRUE(fifth.locked_until);
  EXPECT_EQ(*fifth.locked_until, kT0 + minutes(10));  // the window opened at the first
  EXPECT_NE(fifth.message.find("another 6m"), std::string::npos) << fifth.message;

  // A right code is refused until the window ends; malformed input too.
  const Refused right = refused(book.redeem(mine.code, kLi, kT0 + minutes(9)));
  EXPECT_EQ(right.reason(), "locked");
  EXPECT_NE(right.message.find("another 60s"), std::string::npos) << right.message;
  EXPECT_EQ(refused(book.redeem("nonsense", kLi, kT0 + minutes(9))).reason(), "locked");
  EXPECT_EQ(book.locked_until(kLi.fingerprint, kT0 + minutes(9)), kT0 + minutes(10));
  // Another key is not affected.
  granted(book.redeem(theirs.code, kWang, kT0 + minutes(9)));

  const Refused edge = refused(book.redeem(mine.code, kLi, kT0 + minutes(10) - nanoseconds(1)));
  EXPECT_EQ(edge.reason(), "locked");
  const Redeemed after = granted(book.redeem(mine.code, kLi, kT0 + minutes(10)));
  EXPECT_EQ(after.actor, mine.entry.actor());
}

TEST(CodeBook, WrongCodesSpreadOverMoreThanTheWindowDoNotLock) {
  CodeBook book = new_book();
  const Issued issued = issue(book, {"diagnose"}, 60, "", kT0 + minutes(20));
  const std::string bad = other_code(issued.code);
  for (int i = 0; i < 4; ++i) refused(book.redeem(bad, kLi, kT0 + minutes(i)));
  // The fifth lands in a new window: it counts as its first.
  const Refused fifth = refused(book.redeem(bad, kLi, kT0 + minutes(10)));
  EXPECT_EQ(fifth.failures, 1);
  EXPECT_FALSE(fifth.locked_until);
  granted(book.redeem(issued.code, kLi, kT0 + minutes(21)));
}

TEST(CodeBook, UsedExpiredAndOthersCodesCountTowardTheLockoutButMalformedInputDoesNot) {
  CodeBook book = new_book();
  const Issued used = issue(book);
  const Issued for_li = issue(book, {"diagnose"}, 60, "E1024");
  const Issued fresh = issue(book, {"diagnose"}, 60, "", kT0 + minutes(3));
  granted(book.redeem(used.code, kLi, kT0));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(refused(book.redeem("7KQ2-M9X", kWang, kT0)).reason(), "malformed");
  }
  EXPECT_EQ(refused(book.redeem(used.code, kWang, kT0 + minutes(1))).failures, 1);
  EXPECT_EQ(refused(book.redeem(for_li.code, kWang, kT0 + minutes(1))).failures, 2);
  EXPECT_EQ(refused(book.redeem(used.code, kWang, kT0 + minutes(2))).failures, 3);
  EXPECT_EQ(refused(book.redeem(for_li.code, kWang, kT0 + minutes(2))).failures, 4);
  EXPECT_EQ(refused(book.redeem(used.code, kWang, kT0 + minutes(3))).reason(), "used");
  EXPECT_EQ(refused(book.redeem(fresh.code, kWang, kT0 + minutes(4))).reason(), "locked");
}

TEST(CodeBook, ACodeNamingAnEngineerServesOnlyThatEngineer) {
  CodeBook book = new_book();
  const Issued by_id = issue(book, {"diagnose"}, 30, "E1024");
  const Refused other = refused(book.redeem(by_id.code, kWang, kT0));
  EXPECT_EQ(other.reason(), "not_for_you");
  EXPECT_EQ(other.code_actor, by_id.entry.actor());
  EXPECT_NE(other.message.find("--engineer E2048"), std::string::npos) << other.message;
  const Redeemed li = granted(book.redeem(by_id.code, kLi, kT0 + seconds(1)));
  EXPECT_EQ(li.engineer, "E1024");

  const Issued by_key = issue(book, {"diagnose"}, 30, kWang.fingerprint);
  EXPECT_EQ(refused(book.redeem(by_key.code, kLi, kT0)).reason(), "not_for_you");
  granted(book.redeem(by_key.code, kWang, kT0));
}

TEST(CodeBook, IssueRefusesBadScopesMinutesAndEngineers) {
  CodeBook book = new_book();
  auto none = book.issue({}, 30, "", kT0, kWall);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("--scopes"), std::string::npos);
  auto root = book.issue({"diagnose", "root"}, 30, "", kT0, kWall);
  ASSERT_FALSE(root);
  EXPECT_NE(root.error().message.find("'root'"), std::string::npos) << root.error().message;
  for (int m : {0, -5, kMaxCodeMinutes + 1}) {
    auto bad = book.issue({"diagnose"}, m, "", kT0, kWall);
    ASSERT_FALSE(bad) << m;
    EXPECT_NE(bad.error().message.find("--minutes"), std::string::npos);
  }
  for (const std::string& bad :
       std::vector<std::string>{"E10\x1b[24", " E1024", "SHA256:short", std::string(200, 'E')}) {
    auto r = book.issue({"diagnose"}, 30, bad, kT0, kWall);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message.find('\x1b'), std::string::npos);
  }
  EXPECT_TRUE(book.entries().empty()) << "a refused issue must add nothing";
  const Issued dup = issue(book, {"fix", "diagnose", "fix"});
  EXPECT_EQ(dup.entry.scopes, (std::vector<std::string>{"diagnose", "fix"}));
}

TEST(CodeBook, TheStoredHashHidesTheCodeAndIsSaltedPerBook) {
  CodeBook a = new_book();
  CodeBook b = new_book();
  const Issued issued = issue(a);
  auto canonical = normalize_code(issued.code);
  ASSERT_TRUE(canonical);
  const std::string saved = a.to_json(kBoot).dump();
  std::string lower = issued.code;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const std::string& form : {issued.code, *canonical, lower}) {
    EXPECT_EQ(saved.find(form), std::string::npos) << form << " found in " << saved;
  }
  EXPECT_EQ(issued.entry.hash.size(), 64U);
  auto in_a = a.hash_for(*canonical);
  auto in_b = b.hash_for(*canonical);
  ASSERT_TRUE(in_a && in_b);
  EXPECT_EQ(*in_a, issued.entry.hash);
  EXPECT_NE(*in_b, issued.entry.hash) << "two books must not hash a code alike";
  EXPECT_EQ(refused(b.redeem(issued.code, kLi, kT0)).reason(), "wrong");
}

TEST(CodeBook, SavedBookReloadsCodesUsesAndLockouts) {
  CodeBook book = new_book();
  const Issued used = issue(book);
  const Issued open = issue(book, {"transfer"}, 45, "E1024");
  granted(book.redeem(used.code, kWang, kT0));
  for (int i = 0; i < 3; ++i) refused(book.redeem(other_code(open.code), kWang, kT0));
  const std::string saved = book.to_json(kBoot).dump();

  auto loaded = CodeBook::from_json(saved, kBoot);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->to_json(kBoot).dump(), saved);
  EXPECT_EQ(refused(loaded->redeem(used.code, kWang, kT0)).failures, 4);
  EXPECT_EQ(refused(loaded->redeem(used.code, kWang, kT0)).reason(), "used");
  EXPECT_EQ(refused(loaded->redeem(open.code, kWang, kT0)).reason(), "locked");
  const Redeemed r = granted(loaded->redeem(open.code, kLi, kT0 + minutes(1)));
  EXPECT_EQ(r.scopes, std::vector<std::string>{"transfer"});
  EXPECT_EQ(r.minutes, 45);

  // After a reboot the boot-clock deadlines mean nothing: codes are dropped.
  auto rebooted = CodeBook::from_json(saved, "another-boot");
  ASSERT_TRUE(rebooted) << rebooted.error().message;
  EXPECT_TRUE(rebooted->entries().empty());
  EXPECT_FALSE(rebooted->locked_until(kWang.fingerprint, kT0));
  EXPECT_EQ(refused(rebooted->redeem(open.code, kLi, kT0)).reason(), "wrong");
}

TEST(CodeBook, DamagedSavedBooksAreRefusedNamingTheField) {
  CodeBook book = new_book();
  const Issued used = issue(book);
  issue(book);
  granted(book.redeem(used.code, kLi, kT0));
  refused(book.redeem(other_code(used.code), kWang, kT0));
  const nlohmann::json good = book.to_json(kBoot);
  ASSERT_TRUE(CodeBook::from_json(good.dump(), kBoot));

  struct Damage {
    const char* pointer;
    nlohmann::json value;
    const char* field;
  };
  const std::vector<Damage> damages = {
      {"/v", 2, "v"},
      {"/kdf", "sha256", "kdf"},
      {"/salt", "00ff", "salt"},
      {"/boot_id", 7, "boot_id"},
      {"/codes", nlohmann::json::object(), "codes"},
      {"/codes/0/hash", std::string(64, 'A'), "codes[0].hash"},
      {"/codes/1/hash", good["codes"][0]["hash"], "codes[1].hash"},
      {"/codes/0/scopes", nlohmann::json::array({"root"}), "codes[0].scopes"},
      {"/codes/0/scopes", nlohmann::json::array({"shell", "diagnose"}), "codes[0].scopes"},
      {"/codes/0/scopes", nlohmann::json::array(), "codes[0].scopes"},
      {"/codes/0/minutes", 0, "codes[0].minutes"},
      {"/codes/0/minutes", "60", "codes[0].minutes"},
      {"/codes/0/minutes", 1.5, "codes[0].minutes"},
      {"/codes/0/engineer", "E\x07", "codes[0].engineer"},
      {"/codes/0/issued_at", "yesterday", "codes[0].issued_at"},
      {"/codes/0/expires_boot_ns", -1, "codes[0].expires_boot_ns"},
      {"/codes/0/used_by", "", "codes[0].used_by"},
      {"/codes/1/used_by", kLi.fingerprint, "codes[1].used_by"},
      {"/codes/0/colour", "blue", "codes[0].colour"},
      {"/lockouts/0/failures", 6, "lockouts[0].failures"},
      {"/lockouts/0/fingerprint", "E1024", "lockouts[0].fingerprint"},
      {"/extra", true, "extra"},
  };
  for (const auto& d : damages) {
    nlohmann::json bad = good;
    bad[nlohmann::json::json_pointer(d.pointer)] = d.value;
    auto r = CodeBook::from_json(bad.dump(), kBoot);
    ASSERT_FALSE(r) << d.pointer << " = " << d.value.dump();
    EXPECT_EQ(r.error().reason, "bad_state");
    EXPECT_NE(r.error().message.find(std::string(d.field) + " "), std::string::npos)
        << d.pointer << ": " << r.error().message;
  }
  for (const char* pointer : {"/salt", "/codes/0/minutes", "/lockouts/0/window_end_boot_ns"}) {
    nlohmann::json bad = good;
    bad[nlohmann::json::json_pointer(pointer).parent_pointer()].erase(
        nlohmann::json::json_pointer(pointer).back());
    auto r = CodeBook::from_json(bad.dump(), kBoot);
    ASSERT_FALSE(r) << pointer;
    EXPECT_NE(r.error().message.find("missing"), std::string::npos) << r.error().message;
  }
  for (std::string_view text : {"", "{", "[]", "null", R"({"v":1,"v":1})"}) {
    auto r = CodeBook::from_json(text, kBoot);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().reason, "bad_state");
  }
  std::string cut = good.dump();
  cut.resize(cut.size() / 2);
  EXPECT_FALSE(CodeBook::from_json(cut, kBoot));
}

TEST(CodeBook, PurgeForgetsCodesAnHourAfterTheyExpireAndEndedLockouts) {
  CodeBook book = new_book();
  const Issued issued = issue(book);
  refused(book.redeem(other_code(issued.code), kLi, kT0));
  EXPECT_EQ(book.purge(kT0 + minutes(9)), 0U);
  EXPECT_EQ(book.purge(kT0 + minutes(10)), 1U);  // the lockout window ended
  const auto forget = kT0 + minutes(15) + hours(1);
  EXPECT_EQ(refused(book.redeem(issued.code, kWang, forget - nanoseconds(1))).reason(), "expired");
  EXPECT_EQ(book.purge(forget - nanoseconds(1)), 0U);
  EXPECT_EQ(book.purge(forget), 1U);  // the code; Wang's window (opened just now) stays
  EXPECT_TRUE(book.entries().empty());
  EXPECT_EQ(refused(book.redeem(issued.code, kLi, forget)).reason(), "wrong");
}

// Every refusal reaches the engineer as a sentence in both languages.
TEST(CodeBook, EveryRefusalHasEnglishAndChineseText) {
  const std::vector<std::string_view> ids = {
      "consent.code.malformed.empty",          "consent.code.malformed.char",
      "consent.code.malformed.length",         "consent.code.refused.wrong",
      "consent.code.refused.wrong_now_locked", "consent.code.refused.locked",
      "consent.code.refused.expired",          "consent.code.refused.used",
      "consent.code.refused.not_for_you",      "consent.code.refused.unavailable"};
  for (auto id : ids) {
    ASSERT_TRUE(i18n::has_id(id)) << id;
    EXPECT_NE(i18n::text_in(i18n::Lang::kEn, id), i18n::text_in(i18n::Lang::kZhCN, id)) << id;
  }
  std::set<std::string_view> words;
  for (auto lang : {i18n::Lang::kEn, i18n::Lang::kZhCN}) {
    const Lang scoped(lang);
    CodeBook book = new_book();
    const Issued a = issue(book);
    const Issued b = issue(book, {"diagnose"}, 30, "E1024");
    std::vector<Refused> seen;
    seen.push_back(refused(book.redeem("7KQ2", kWang, kT0)));
    granted(book.redeem(a.code, kLi, kT0));
    seen.push_back(refused(book.redeem(a.code, kWang, kT0)));
    seen.push_back(refused(book.redeem(b.code, kWang, kT0)));
    seen.push_back(refused(book.redeem(other_code(b.code), kWang, kT0)));
    seen.push_back(refused(book.redeem(b.code, kLi, kT0 + minutes(15))));
    seen.push_back(refused(book.redeem(other_code(b.code), kWang, kT0)));
    seen.push_back(refused(book.redeem(other_code(b.code), kWang, kT0)));  // the 5th: locks
    seen.push_back(refused(book.redeem(b.code, kWang, kT0)));
    for (const auto& r : seen) {
      words.insert(r.reason());
      EXPECT_FALSE(r.message.empty()) << r.reason();
      EXPECT_EQ(r.message.find("consent.code."), std::string::npos) << r.message;
      const bool has_cjk = r.message.find("\xE7\xA0\x81") != std::string::npos;  // 码
      EXPECT_EQ(has_cjk, lang == i18n::Lang::kZhCN) << r.reason() << ": " << r.message;
    }
  }
  EXPECT_EQ(words, (std::set<std::string_view>{"malformed", "used", "not_for_you", "wrong",
                                               "expired", "locked"}));
  for (Refusal r : kAllRefusals) EXPECT_FALSE(refusal_word(r).empty());
}

}  // namespace
}  // namespace rdiag::agent::consent
