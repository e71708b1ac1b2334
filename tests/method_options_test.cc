// What the proto declares about each method (idempotency_level and
// access_role), held to an explicit table: a change to a method's options
// must change this table too, on purpose.
#include "daemon/rpc/method_options.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "daemon/rpc/auth.h"
#include "metad/v1/options.pb.h"

namespace metad::daemon {
namespace {

using google::protobuf::MethodOptions;

struct Expected {
  MethodOptions::IdempotencyLevel idempotency;
  Role role;
};

constexpr auto kRead = MethodOptions::NO_SIDE_EFFECTS;
constexpr auto kIdem = MethodOptions::IDEMPOTENT;
constexpr auto kOnce = MethodOptions::IDEMPOTENCY_UNKNOWN;

const std::map<std::string, Expected>& Table() {
  static const auto* const table = new std::map<std::string, Expected>{
      {"RegisterFile", {kIdem, Role::kWorker}},
      {"RegisterFiles", {kIdem, Role::kWorker}},
      {"GetFile", {kRead, Role::kReader}},
      {"ListFiles", {kRead, Role::kReader}},
      {"ClaimFiles", {kIdem, Role::kWorker}},
      {"CompleteFile", {kIdem, Role::kWorker}},
      {"ResetFile", {kOnce, Role::kAdmin}},
      {"ListFileEvents", {kRead, Role::kReader}},
      {"ReprocessFiles", {kOnce, Role::kAdmin}},
      {"GetLineage", {kRead, Role::kReader}},
      {"RegisterTask", {kIdem, Role::kWorker}},
      {"UpdateTask", {kOnce, Role::kWorker}},
      {"GetTask", {kRead, Role::kReader}},
      {"ListTasks", {kRead, Role::kReader}},
      {"DeleteTask", {kOnce, Role::kAdmin}},
      {"ListTaskEvents", {kRead, Role::kReader}},
      {"StartRun", {kIdem, Role::kWorker}},
      {"Heartbeat", {kIdem, Role::kWorker}},
      {"FinishRun", {kIdem, Role::kWorker}},
      {"RecordOutputs", {kIdem, Role::kWorker}},
      {"CancelRun", {kIdem, Role::kWorker}},
      {"RerunTasks", {kOnce, Role::kWorker}},
      {"GetRun", {kRead, Role::kReader}},
      {"ListRuns", {kRead, Role::kReader}},
      {"GetBatch", {kRead, Role::kReader}},
      {"ListRunEvents", {kRead, Role::kReader}},
      {"AddDependency", {kIdem, Role::kAdmin}},
      {"RemoveDependency", {kOnce, Role::kAdmin}},
      {"ListDependencies", {kRead, Role::kReader}},
      {"GetUpstream", {kRead, Role::kReader}},
      {"GetDownstream", {kRead, Role::kReader}},
      {"GetExecutionPlan", {kRead, Role::kReader}},
      {"GetReadyTasks", {kRead, Role::kReader}},
      {"WatchFiles", {kRead, Role::kReader}},
      {"WatchRuns", {kRead, Role::kReader}},
      {"PruneHistory", {kIdem, Role::kAdmin}},
      {"SetBatchDeadline", {kIdem, Role::kWorker}},
      {"SetSourceFreshness", {kIdem, Role::kWorker}},
      {"ListAlerts", {kRead, Role::kReader}},
  };
  return *table;
}

TEST(MethodOptions, EveryMethodMatchesTheTable) {
  std::set<std::string> seen;
  for (const google::protobuf::MethodDescriptor* m : MetadMethods()) {
    SCOPED_TRACE(m->full_name());
    auto it = Table().find(m->name());
    ASSERT_NE(it, Table().end()) << "a method the table does not know";
    EXPECT_TRUE(seen.insert(m->name()).second) << "short name used twice";
    EXPECT_EQ(m->options().idempotency_level(), it->second.idempotency);
    EXPECT_EQ(RequiredRole(m->name()), it->second.role);
    // What a standby may serve (--read_database) is exactly the reads.
    EXPECT_EQ(IsReadMethod(m->name()), it->second.idempotency == kRead);
  }
  EXPECT_EQ(seen.size(), Table().size()) << "a method of the table is gone";
}

// Every method declares its role, and only reads are open to readers.
TEST(MethodOptions, RolesAreDeclaredAndReadersOnlyRead) {
  for (const google::protobuf::MethodDescriptor* m : MetadMethods()) {
    SCOPED_TRACE(m->full_name());
    v1::AccessRole declared = m->options().GetExtension(v1::access_role);
    EXPECT_NE(declared, v1::ACCESS_ROLE_UNSPECIFIED);
    EXPECT_EQ(
        declared == v1::ACCESS_ROLE_READER,
        m->options().idempotency_level() == MethodOptions::NO_SIDE_EFFECTS);
  }
}

TEST(MethodOptions, UnknownMethodsNeedAdmin) {
  EXPECT_EQ(RequiredRole("NoSuchMethod"), Role::kAdmin);
  EXPECT_EQ(RequiredRole(""), Role::kAdmin);
  // ... and are not reads: they stay on the primary.
  EXPECT_FALSE(IsReadMethod("NoSuchMethod"));
}

}  // namespace
}  // namespace metad::daemon
