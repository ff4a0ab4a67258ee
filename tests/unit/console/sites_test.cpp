#include "console/sites.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/i18n.h"
#include "console/files.h"
#include "tests/unit/console/temp_dir.h"

namespace rdiag::console {
namespace {

using testing::TempDir;

TEST(SiteName, AcceptsThePattern) {
  EXPECT_TRUE(valid_site_name("erp01"));
  EXPECT_TRUE(valid_site_name("a"));
  EXPECT_TRUE(valid_site_name("Shanghai.erp-2_b"));
  EXPECT_TRUE(valid_site_name(std::string(64, 'x')));
}

TEST(SiteName, RefusesEverythingElse) {
  EXPECT_FALSE(valid_site_name(""));
  EXPECT_FALSE(valid_site_name(std::string(65, 'x')));
  EXPECT_FALSE(valid_site_name("-erp"));
  EXPECT_FALSE(valid_site_name(".erp"));
  EXPECT_FALSE(valid_site_name("erp 01"));
  EXPECT_FALSE(valid_site_name("erp/01"));
  EXPECT_FALSE(valid_site_name("客户"));
  EXPECT_FALSE(valid_site_name("erp\x1b"));
}

TEST(SiteAddress, DefaultsThePortTo2222) {
  auto hp = parse_site_address("ERP01.Example.com");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "erp01.example.com");  // lower-cased, as known_hosts matches it
  EXPECT_EQ(hp->port, 2222);
}

TEST(SiteAddress, ReadsPortsAndIpv6) {
  auto a = parse_site_address("10.0.0.5:2200");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 2200);
  auto b = parse_site_address("[::1]:2223");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 2223);
  auto c = parse_site_address("[fe80::1]");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->port, 2222);
  auto d = parse_site_address("2001:db8::5");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "2001:db8::5");
  EXPECT_EQ(d->port, 2222);
}

TEST(SiteAddress, RefusesBadAddresses) {
  for (const char* bad : {"", "host:", "host:0", "host:65536", "host:22x", "[::1", "[::1]x",
                          "[::1]:", "bad host", "-oProxyCommand=x", "user@host", "a;b"}) {
    EXPECT_FALSE(parse_site_address(bad)) << bad;
  }
}

TEST(Tag, AllowsCjkButNoSeparatorsOrControls) {
  EXPECT_TRUE(valid_tag("prod"));
  EXPECT_TRUE(valid_tag("华东"));
  EXPECT_FALSE(valid_tag(""));
  EXPECT_FALSE(valid_tag("a,b"));
  EXPECT_FALSE(valid_tag("a b"));
  EXPECT_FALSE(valid_tag("a\x1b"));
  EXPECT_FALSE(valid_tag("\xff\xfe"));
  EXPECT_FALSE(valid_tag(std::string(65, 't')));
}

TEST(SiteList, AddsListsAndRemoves) {
  SiteList list;
  ASSERT_TRUE(list.add(*make_site("erp01", "10.0.0.5", {"prod"})));
  ASSERT_TRUE(list.add(*make_site("erp02", "10.0.0.6:2200", {})));
  ASSERT_EQ(list.sites().size(), 2U);
  ASSERT_NE(list.find("erp02"), nullptr);
  EXPECT_EQ(list.find("erp02")->port, 2200);
  ASSERT_TRUE(list.remove("erp01"));
  EXPECT_EQ(list.find("erp01"), nullptr);
  EXPECT_EQ(list.sites().size(), 1U);
}

TEST(SiteList, RefusesDuplicateNamesIgnoringCase) {
  SiteList list;
  ASSERT_TRUE(list.add(*make_site("erp01", "a", {})));
  auto again = list.add(*make_site("erp01", "b", {}));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().reason, "duplicate");
  EXPECT_FALSE(list.add(*make_site("ERP01", "b", {})));
  EXPECT_EQ(list.sites().size(), 1U);
}

TEST(SiteList, RemovingAnUnknownNameSaysSo) {
  i18n::set_lang(i18n::Lang::kEn);
  SiteList list;
  auto r = list.remove("ghost");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "not_found");
  EXPECT_NE(r.error().message.find("ghost"), std::string::npos);
}

TEST(SiteList, MakeSiteNamesTheBadField) {
  i18n::set_lang(i18n::Lang::kEn);
  auto r = make_site("bad name", "host", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "invalid_name");
  EXPECT_EQ(make_site("ok", "host", {"a,b"}).error().reason, "invalid_tag");
  EXPECT_EQ(make_site("ok", "host:0", {}).error().reason, "invalid_address");
}

TEST(SiteList, JsonRoundTrip) {
  SiteList list;
  ASSERT_TRUE(list.add(*make_site("erp01", "[::1]:2223", {"prod", "华东"})));
  auto text = list.to_json().dump();
  EXPECT_EQ(text,
            R"({"sites":[{"name":"erp01","host":"::1","port":2223,"tags":["prod","华东"]}]})");
  auto back = SiteList::from_json_text(text, "sites.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sites(), list.sites());
}

TEST(SiteList, RefusesABrokenFileNamingIt) {
  i18n::set_lang(i18n::Lang::kEn);
  for (const char* bad :
       {"", "[]", "{\"sites\":{}}", R"({"sites":[{"name":"a"}]})",
        R"({"sites":[{"name":"a","host":"h","port":70000}]})",
        R"({"sites":[{"name":"a b","host":"h","port":22}]})",
        R"({"sites":[{"name":"a","host":"h","port":"22"}]})",
        R"({"sites":[{"name":"a","host":"h","port":22},{"name":"A","host":"h","port":22}]})"}) {
    auto r = SiteList::from_json_text(bad, "/x/sites.json");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("/x/sites.json"), std::string::npos) << r.error().message;
  }
}

TEST(SitesFile, MissingFileIsAnEmptyList) {
  TempDir dir;
  auto list = load_sites(dir.path());
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->sites().empty());
}

TEST(SitesFile, SavesPrivatelyAndLoadsBack) {
  TempDir dir;
  SiteList list;
  ASSERT_TRUE(list.add(*make_site("erp01", "10.0.0.5", {"prod"})));
  ASSERT_TRUE(save_sites(dir.path(), list));
  struct stat st {};
  ASSERT_EQ(::stat(sites_path(dir.path()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  auto back = load_sites(dir.path());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sites(), list.sites());
  // No temporary file is left beside it.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(DataDir, CreatesMissingDirectoriesPrivate) {
  TempDir dir;
  std::string nested = dir.path() + "/a/b/rdiag";
  ASSERT_TRUE(ensure_private_dir(nested));
  struct stat st {};
  ASSERT_EQ(::stat(nested.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700U);
  EXPECT_TRUE(ensure_private_dir(nested));  // existing: fine
}

TEST(Endpoint, BracketsIpv6) {
  EXPECT_EQ(endpoint_text("erp01", 2222), "erp01:2222");
  EXPECT_EQ(endpoint_text("::1", 2223), "[::1]:2223");
}

}  // namespace
}  // namespace rdiag::console
