#include "daemon/rpc/page_token.h"

#include <gtest/gtest.h>

#include "metad/v1/files.pb.h"
#include "metad/v1/tasks.pb.h"

namespace metad::daemon {
namespace {

TEST(PageToken, RoundTrips) {
  v1::ListFilesRequest request;
  request.set_source("s3://bucket");
  uint64_t fp = FilterFingerprint(request);
  auto id = DecodePageToken("page_token", EncodePageToken(42, fp), fp);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 42);
}

TEST(PageToken, EmptyMeansFirstPage) {
  auto id = DecodePageToken("page_token", "", 7);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 0);
}

TEST(PageToken, FingerprintIgnoresPagingFields) {
  v1::ListFilesRequest a;
  a.set_source("x");
  v1::ListFilesRequest b = a;
  b.set_page_size(10);
  b.set_page_token("whatever");
  EXPECT_EQ(FilterFingerprint(a), FilterFingerprint(b));
  b.set_source("y");
  EXPECT_NE(FilterFingerprint(a), FilterFingerprint(b));
}

TEST(PageToken, FingerprintDependsOnTheRequestType) {
  // Without filters both requests serialize to nothing: a ListFiles token
  // must still not page ListTasks.
  EXPECT_NE(FilterFingerprint(v1::ListFilesRequest()),
            FilterFingerprint(v1::ListTasksRequest()));
}

TEST(PageToken, RefusesTokenForOtherFilters) {
  auto id = DecodePageToken("page_token", EncodePageToken(42, 1), 2);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("page_token"), std::string::npos);
}

TEST(PageToken, RefusesForgedTokens) {
  for (const char* token :
       {"garbage", "djE6eDox", "!!!!", "djE6LTE6MQ",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    auto id = DecodePageToken("page_token", token, 1);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << token;
  }
}

TEST(KeyPageToken, RoundTripsAKeyOfSeveralNumbers) {
  const std::vector<int64_t> key = {3, 2, 1234567890123, 0};
  auto back =
      DecodeKeyPageToken("page_token", EncodeKeyPageToken(key, 77), 77, 4);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, key);
  auto empty = DecodeKeyPageToken("page_token", "", 77, 4);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(KeyPageToken, RefusesOtherRequestsAndForgeries) {
  auto other = DecodeKeyPageToken("page_token",
                                  EncodeKeyPageToken({1, 1, 1, 1}, 7), 8, 4);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(other.status().message().find("another request"),
            std::string::npos);
  const std::vector<std::string> forged = {
      EncodeKeyPageToken({1, 1, 1}, 7),        // too few numbers
      EncodeKeyPageToken({1, 1, 1, 1, 1}, 7),  // too many
      EncodeKeyPageToken({1, -1, 1, 1}, 7),    // negative
      EncodePageToken(5, 7),                   // a list's token
      "garbage",
      std::string(400, 'A')};
  for (const std::string& token : forged) {
    auto key = DecodeKeyPageToken("page_token", token, 7, 4);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_NE(key.status().message().find("not a page token"),
              std::string::npos)
        << token;
  }
}

}  // namespace
}  // namespace metad::daemon
