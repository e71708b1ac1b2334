#include "daemon/rpc/validation.h"

#include <gtest/gtest.h>

#include "daemon/rpc/auth.h"

namespace metad::daemon {
namespace {

TEST(Validation, TextLengthBoundsNameTheField) {
  absl::Status s = CheckText("file_name", "", 1, 1024);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "file_name: must be 1..1024 bytes (got 0)");
  EXPECT_TRUE(CheckText("file_name", std::string(1024, 'a'), 1, 1024).ok());
  EXPECT_FALSE(CheckText("file_name", std::string(1025, 'a'), 1, 1024).ok());
}

TEST(Validation, TextRefusesNulAndInvalidUtf8) {
  EXPECT_FALSE(CheckText("f", std::string("a\0b", 3), 1, 10).ok());
  EXPECT_FALSE(CheckText("f", "\xC3", 1, 10).ok());          // truncated
  EXPECT_FALSE(CheckText("f", "\xC0\xAF", 1, 10).ok());      // overlong
  EXPECT_FALSE(CheckText("f", "\xED\xA0\x80", 1, 10).ok());  // surrogate
  EXPECT_FALSE(CheckText("f", "\xFF", 1, 10).ok());
  EXPECT_TRUE(CheckText("f", "caf\xC3\xA9 \xF0\x9F\x98\x80", 1, 20).ok());
}

TEST(Validation, LabelsRefuseControlCharacters) {
  EXPECT_FALSE(CheckBatchId("batch_id", "a\nb").ok());
  EXPECT_FALSE(CheckBatchId("batch_id", "").ok());
  EXPECT_TRUE(CheckBatchId("batch_id", "2024-03-01 nightly").ok());
}

TEST(Validation, TaskNames) {
  EXPECT_TRUE(CheckTaskName("name", "load_sales.v2:eu-1").ok());
  EXPECT_FALSE(CheckTaskName("name", "").ok());
  EXPECT_FALSE(CheckTaskName("name", "has space").ok());
  EXPECT_FALSE(CheckTaskName("name", "drop;table").ok());
  EXPECT_FALSE(CheckTaskName("name", std::string(129, 'a')).ok());
}

TEST(Validation, Ids) {
  EXPECT_TRUE(CheckId("run_id", 1).ok());
  EXPECT_EQ(CheckId("run_id", 0).message(),
            "run_id: must be a positive id (got 0)");
  EXPECT_FALSE(CheckId("run_id", -5).ok());
}

TEST(Validation, PageSize) {
  int32_t effective = 0;
  ASSERT_TRUE(CheckPageSize("page_size", 0, &effective).ok());
  EXPECT_EQ(effective, 100);
  ASSERT_TRUE(CheckPageSize("page_size", 1000, &effective).ok());
  EXPECT_EQ(effective, 1000);
  // AIP-158: above the maximum is coerced, negative refused.
  ASSERT_TRUE(CheckPageSize("page_size", 1001, &effective).ok());
  EXPECT_EQ(effective, 1000);
  ASSERT_TRUE(CheckPageSize("page_size", 2147483647, &effective).ok());
  EXPECT_EQ(effective, 1000);
  EXPECT_FALSE(CheckPageSize("page_size", -1, &effective).ok());
  ASSERT_TRUE(CheckPageSize("page_size", 0, 500, 5000, &effective).ok());
  EXPECT_EQ(effective, 500);
  ASSERT_TRUE(CheckPageSize("page_size", 9999, 500, 5000, &effective).ok());
  EXPECT_EQ(effective, 5000);
}

// CancelRun and RerunTasks are worker calls (an admin token covers them too).
TEST(RequiredRole, CancelAndRerunNeedTheWorkerRole) {
  EXPECT_EQ(RequiredRole("CancelRun"), Role::kWorker);
  EXPECT_EQ(RequiredRole("RerunTasks"), Role::kWorker);
  EXPECT_EQ(RequiredRole("PruneHistory"), Role::kAdmin);
}

}  // namespace
}  // namespace metad::daemon
