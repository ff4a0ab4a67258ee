#include "console/exit_codes.h"

#include <gtest/gtest.h>

#include "common/jsonrpc.h"
#include "console/ssh_client.h"

namespace rdiag::console {
namespace {

TEST(ExitCodes, RefusalsAreThree) {
  for (const char* reason : {kReasonAuthDenied, kReasonHostKeyChanged, kReasonSealKeyChanged,
                             kReasonUntrusted, kReasonAgentInconsistent}) {
    EXPECT_EQ(exit_code_for(make_error("x", reason)), 3) << reason;
  }
}

TEST(ExitCodes, FailuresAreOne) {
  for (const char* reason :
       {kReasonConnect, kReasonNoKey, kReasonKeyUnusable, "timeout", "", "not_found", "io_error"}) {
    EXPECT_EQ(exit_code_for(make_error("x", reason)), 1) << reason;
  }
}

TEST(ExitCodes, AgentRefusalCodesAreThree) {
  EXPECT_EQ(exit_code_for(make_error("x", "no_grant"), rpc::kNoGrant), 3);
  EXPECT_EQ(exit_code_for(make_error("x", ""), rpc::kUnauthenticated), 3);
  EXPECT_EQ(exit_code_for(make_error("x", ""), rpc::kScopeDenied), 3);
  EXPECT_EQ(exit_code_for(make_error("x", ""), rpc::kGrantExpired), 3);
  EXPECT_EQ(exit_code_for(make_error("x", ""), rpc::kInternalError), 1);
  EXPECT_EQ(exit_code_for(make_error("x", ""), rpc::kNotFound), 1);
}

}  // namespace
}  // namespace rdiag::console
