#include "common/netaddr.h"

#include <gtest/gtest.h>

namespace rdiag {
namespace {

IpAddress ip(std::string_view text) {
  auto r = parse_ip(text);
  EXPECT_TRUE(r) << text;
  return r ? *r : IpAddress{};
}

TEST(ParseIp, ReadsV4AndV6) {
  EXPECT_FALSE(ip("192.0.2.7").v6);
  EXPECT_EQ(ip("192.0.2.7").to_string(), "192.0.2.7");
  EXPECT_TRUE(ip("2001:DB8::1").v6);
  EXPECT_EQ(ip("2001:DB8::1").to_string(), "2001:db8::1");
}

TEST(ParseIp, FoldsV4MappedToV4) {
  IpAddress mapped = ip("::ffff:192.0.2.7");
  EXPECT_FALSE(mapped.v6);
  EXPECT_EQ(mapped, ip("192.0.2.7"));
  EXPECT_EQ(mapped.to_string(), "192.0.2.7");
}

TEST(ParseIp, RefusesNonAddresses) {
  for (std::string_view bad :
       {"", "erp.example.com", "192.0.2.256", "192.0.2.7 ", "fe80::1%eth0", "1.2.3"}) {
    EXPECT_FALSE(parse_ip(bad)) << bad;
  }
}

TEST(ParseCidr, MasksHostBitsAndMatches) {
  auto net = parse_cidr("10.1.2.3/8");
  ASSERT_TRUE(net);
  EXPECT_EQ(net->base.to_string(), "10.0.0.0");
  EXPECT_EQ(net->prefix, 8);
  EXPECT_TRUE(net->contains(ip("10.255.0.1")));
  EXPECT_FALSE(net->contains(ip("11.0.0.1")));
  EXPECT_FALSE(net->contains(ip("::ffff:11.0.0.1")));
  EXPECT_TRUE(net->contains(ip("::ffff:10.0.0.1")));
}

TEST(ParseCidr, BareAddressIsFullLength) {
  auto v4 = parse_cidr("192.0.2.7");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->prefix, 32);
  auto v6 = parse_cidr("::1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->prefix, 128);
  EXPECT_TRUE(v6->contains(ip("::1")));
  EXPECT_FALSE(v6->contains(ip("::2")));
}

TEST(ParseCidr, V6BlocksAndZeroPrefix) {
  auto net = parse_cidr("2001:db8::/32");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(net->contains(ip("2001:db9::1")));
  EXPECT_FALSE(net->contains(ip("10.0.0.1")));  // families never mix
  auto all = parse_cidr("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(ip("203.0.113.9")));
}

TEST(ParseCidr, V4MappedBlockCountsMappedBits) {
  auto net = parse_cidr("::ffff:10.0.0.0/104");
  ASSERT_TRUE(net);
  EXPECT_FALSE(net->base.v6);
  EXPECT_EQ(net->prefix, 8);
  EXPECT_FALSE(parse_cidr("::ffff:10.0.0.0/64"));
}

TEST(ParseCidr, RefusesPrefixOutOfRange) {
  for (std::string_view bad :
       {"10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/8x", "/8", "host/8"}) {
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  }
}

TEST(MatchFrom, CidrAndWildcardEntries) {
  EXPECT_TRUE(match_from_patterns("10.0.0.0/8", ip("10.2.3.4")));
  EXPECT_TRUE(match_from_patterns("192.0.2.*", ip("192.0.2.77")));
  EXPECT_TRUE(match_from_patterns("192.0.2.?", ip("192.0.2.7")));
  EXPECT_FALSE(match_from_patterns("192.0.2.?", ip("192.0.2.77")));
  EXPECT_TRUE(match_from_patterns("198.51.100.1,192.0.2.7", ip("192.0.2.7")));
  EXPECT_FALSE(match_from_patterns("198.51.100.1", ip("192.0.2.7")));
  EXPECT_TRUE(match_from_patterns("2001:DB8::*", ip("2001:db8::5")));
  EXPECT_TRUE(match_from_patterns("*", ip("::1")));
}

TEST(MatchFrom, NegationWinsWhereverItIs) {
  EXPECT_FALSE(match_from_patterns("10.0.0.0/8,!10.9.9.9", ip("10.9.9.9")));
  EXPECT_FALSE(match_from_patterns("!10.9.9.9,10.0.0.0/8", ip("10.9.9.9")));
  EXPECT_TRUE(match_from_patterns("!10.9.9.9,10.0.0.0/8", ip("10.9.9.8")));
  EXPECT_FALSE(match_from_patterns("*,!192.0.2.*", ip("192.0.2.1")));
  // A negation alone allows nothing: a positive match is still needed.
  EXPECT_FALSE(match_from_patterns("!10.9.9.9", ip("10.1.1.1")));
}

TEST(MatchFrom, V4MappedPeerMatchesV4Patterns) {
  EXPECT_TRUE(match_from_patterns("192.0.2.0/24", ip("::ffff:192.0.2.7")));
  EXPECT_TRUE(match_from_patterns("192.0.2.7", ip("::ffff:192.0.2.7")));
  EXPECT_FALSE(match_from_patterns("!192.0.2.7,*", ip("::ffff:192.0.2.7")));
}

TEST(MatchFrom, HostNamesAreNeverResolved) {
  EXPECT_FALSE(match_from_patterns("localhost", ip("127.0.0.1")));
  EXPECT_FALSE(match_from_patterns("*.example.com", ip("192.0.2.7")));
}

TEST(MatchFrom, ErrorsInTheListDenyEverything) {
  // As OpenSSH: host bits set, a prefix too long, or an empty entry fails the whole list.
  EXPECT_FALSE(match_from_patterns("10.0.0.1/8,*", ip("10.0.0.1")));
  EXPECT_FALSE(match_from_patterns("10.0.0.0/33,*", ip("10.0.0.1")));
  EXPECT_FALSE(match_from_patterns("*,,10.0.0.1", ip("10.0.0.1")));
  EXPECT_FALSE(match_from_patterns("", ip("10.0.0.1")));
}

TEST(ValidateFrom, ReportsMistakes) {
  EXPECT_TRUE(validate_from_patterns("10.0.0.0/8,!10.9.9.9,192.0.2.*,::1"));
  EXPECT_FALSE(validate_from_patterns("10.0.0.1/8"));
  EXPECT_FALSE(validate_from_patterns("10.0.0.0/40"));
  EXPECT_FALSE(validate_from_patterns("10.0.0.0/8,"));
  EXPECT_FALSE(validate_from_patterns("!"));
  EXPECT_FALSE(validate_from_patterns("10.0.0.0/abc"));
}

TEST(HostPort, ReadsV4V6AndPortZero) {
  auto a = parse_host_port("127.0.0.1:0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  auto b = parse_host_port("[::1]:2222");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 2222);
  auto c = parse_host_port("0.0.0.0:65535");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->port, 65535);
}

TEST(HostPort, RefusesMissingOrBadPort) {
  for (std::string_view bad :
       {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:-1",
        "127.0.0.1:22x", ":22", "::1:22", "[::1]", "[]:22", "[::1]22", ""}) {
    EXPECT_FALSE(parse_host_port(bad)) << bad;
  }
}

}  // namespace
}  // namespace rdiag
