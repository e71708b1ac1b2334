// The timeline fence's rules (store/timeline_fence.h) and its state file
// (store/fence_state.h), without a database.
#include "store/timeline_fence.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "store/fence_state.h"

namespace metad::store {
namespace {

ServerIdentity Primary(const std::string& system, int64_t timeline) {
  return {system, /*in_recovery=*/false, timeline, "db1:5432"};
}

ServerIdentity Standby(const std::string& system, int64_t timeline) {
  return {system, /*in_recovery=*/true, timeline, "db3:5432"};
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name + "-" +
         std::to_string(getpid());
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(TimelineFenceTest, RemembersTheHighestTimelineOfTheFirstSystem) {
  TimelineFence fence;
  EXPECT_TRUE(fence.Admit(Primary("7", 2)).ok());
  EXPECT_TRUE(fence.Admit(Standby("7", 0)).ok());
  EXPECT_EQ(fence.Admit(Primary("7", 1)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(fence.Admit(Primary("8", 5)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(fence.Admit(Primary("7", 3)).ok());
  EXPECT_EQ(fence.Admit(Primary("7", 2)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(fence.refused(), 3);
}

TEST(TimelineFenceTest, APeerOnALaterTimelineRefusesAFirstPrimary) {
  TimelineFence fence;
  absl::Status s =
      fence.Admit(Primary("7", 1), {Primary("7", 1), Standby("7", 2)});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("db3:5432 (a standby)"), std::string::npos)
      << s.message();
  // Learned: the same primary is refused without peers now, the later one
  // admitted.
  EXPECT_FALSE(fence.Admit(Primary("7", 1)).ok());
  EXPECT_TRUE(fence.Admit(Primary("7", 2), {Standby("7", 2)}).ok());
}

TEST(TimelineFenceTest, PeersOfAnotherSystemOrBehindChangeNothing) {
  TimelineFence fence;
  EXPECT_TRUE(
      fence.Admit(Primary("7", 2), {Standby("9", 5), Standby("7", 1)}).ok());
  EXPECT_TRUE(fence.Admit(Primary("7", 2)).ok());
}

TEST(TimelineFenceTest, TheStateFileOutlivesTheFence) {
  const std::string path = TempPath("fence-state");
  unlink(path.c_str());
  {
    TimelineFence fence;
    ASSERT_TRUE(fence.UseStateFile(path).ok());  // none yet
    EXPECT_TRUE(fence.Admit(Primary("7", 1)).ok());
    EXPECT_EQ(Read(path), "7 1\n");
    EXPECT_TRUE(fence.Admit(Primary("7", 3)).ok());
    EXPECT_EQ(Read(path), "7 3\n");
  }
  TimelineFence restarted;
  ASSERT_TRUE(restarted.UseStateFile(path).ok());
  EXPECT_EQ(restarted.Admit(Primary("7", 2)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(restarted.Admit(Primary("8", 9)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(restarted.Admit(Primary("7", 3)).ok());
  unlink(path.c_str());
}

TEST(TimelineFenceTest, AnUnreadableStateFileIsAnError) {
  const std::string path = TempPath("fence-state-bad");
  std::ofstream(path) << "not a state\n";
  TimelineFence fence;
  EXPECT_EQ(fence.UseStateFile(path).code(),
            absl::StatusCode::kInvalidArgument);
  std::ofstream(path) << "7 0\n";
  EXPECT_FALSE(LoadFenceState(path).ok());
  std::ofstream(path) << "  7 4 \n";
  absl::StatusOr<FenceState> state = LoadFenceState(path);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->system_id, "7");
  EXPECT_EQ(state->timeline, 4);
  unlink(path.c_str());
}

}  // namespace
}  // namespace metad::store
