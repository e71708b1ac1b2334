// The fault suites' checks must be able to fail: each test here writes a
// small, consistent history straight into the tables (two files, three runs:
// one finished, one expired, one that took over the expired run's file),
// shows that the checkers accept it, then breaks it in one way and shows
// that the checker in question reports it. A checker that always said "fine"
// would make every fault suite pass whatever the daemon did.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/faults/fault_support.h"
#include "tests/faults/worker_fleet.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

// Run 2's lease lapsed at 00:00:02 (start + 2 s); its EXPIRED event is at
// 00:00:02.5, so the measured expiry delay is 0.5 s.
constexpr const char* kHistory = R"sql(
INSERT INTO tasks (id, name) VALUES (1, 'ingest');
INSERT INTO task_log (id, task_id, batch_id, status, attempt, lease_seconds,
                      error_message, start_time, end_time) VALUES
  (1, 1, 'b1', 'SUCCESS', 1, 2, '',
   '2026-01-01 00:00:00+00', '2026-01-01 00:00:01+00'),
  (2, 1, 'b2', 'ERROR', 1, 2, 'lease expired',
   '2026-01-01 00:00:00+00', '2026-01-01 00:00:02.5+00'),
  (3, 1, 'b3', 'SUCCESS', 1, 2, '',
   '2026-01-01 00:00:03+00', '2026-01-01 00:00:04+00');
INSERT INTO run_events (id, run_id, kind, from_status, to_status, message,
                        event_time) VALUES
  (1, 1, 'STARTED', NULL, 'PROCESSING', '', '2026-01-01 00:00:00+00'),
  (2, 1, 'FINISHED', 'PROCESSING', 'SUCCESS', '', '2026-01-01 00:00:01+00'),
  (3, 2, 'STARTED', NULL, 'PROCESSING', '', '2026-01-01 00:00:00+00'),
  (4, 2, 'EXPIRED', 'PROCESSING', 'ERROR', 'lease expired',
   '2026-01-01 00:00:02.5+00'),
  (5, 3, 'STARTED', NULL, 'PROCESSING', '', '2026-01-01 00:00:03+00'),
  (6, 3, 'FINISHED', 'PROCESSING', 'SUCCESS', '', '2026-01-01 00:00:04+00');
INSERT INTO files (id, source, file_name, status, run_id) VALUES
  (1, 'landing', 'a.csv', 'SUCCESS', 1),
  (2, 'landing', 'b.csv', 'SUCCESS', 3);
INSERT INTO file_events (id, file_id, kind, from_status, to_status, run_id)
VALUES
  (10, 1, 'REGISTERED', NULL, 'NEW', NULL),
  (20, 1, 'CLAIMED', 'NEW', 'PROCESSING', 1),
  (30, 1, 'COMPLETED', 'PROCESSING', 'SUCCESS', 1),
  (40, 2, 'REGISTERED', NULL, 'NEW', NULL),
  (50, 2, 'CLAIMED', 'NEW', 'PROCESSING', 2),
  (60, 2, 'RELEASED', 'PROCESSING', 'NEW', 2),
  (70, 2, 'CLAIMED', 'NEW', 'PROCESSING', 3),
  (80, 2, 'FINISHED', 'PROCESSING', 'SUCCESS', 3);
)sql";

// Every call of the history above, in the ok-log format of worker_fleet.h.
const std::vector<std::string> kGoodLines = {
    "S 1", "S 2",   "S 3",   "K 1 1", "C 1 1",     "F 1 0",    "K 2 2",
    "A 2", "K 3 2", "F 3 1", "G 3 2", "R 1 a.csv", "R 2 b.csv"};

class FaultChecks : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    Sql(kHistory);
  }

  std::string WriteLog(const std::vector<std::string>& lines) {
    const std::string path =
        absl::StrCat(::testing::TempDir(), "/faults_checks_",
                     ::testing::UnitTest::GetInstance()->random_seed(), "_",
                     counter_++, ".ok");
    std::ofstream out(path);
    for (const auto& l : lines) out << l << "\n";
    return path;
  }

  // The first violation message that contains `needle`, or "".
  static std::string Find(const std::vector<std::string>& violations,
                          const std::string& needle) {
    for (const auto& v : violations) {
      if (v.find(needle) != std::string::npos) return v;
    }
    return "";
  }

  int counter_ = 0;
};

TEST_F(FaultChecks, ConsistentHistoryPasses) {
  HistoryReport files = CheckFileHistories(url());
  EXPECT_EQ(files.violation_count, 0) << absl::StrJoin(files.violations, "\n");
  EXPECT_EQ(files.files, 2);
  EXPECT_EQ(files.events, 8);
  EXPECT_EQ(files.claims, 3);
  EXPECT_EQ(files.releases, 1);
  EXPECT_EQ(files.succeeded_once, 2);
  EXPECT_EQ(files.succeeded_twice, 0);
  RunReport runs = CheckRunHistories(url());
  EXPECT_EQ(runs.violation_count, 0) << absl::StrJoin(runs.violations, "\n");
  EXPECT_EQ(runs.runs, 3);
  EXPECT_EQ(runs.finished, 2);
  EXPECT_EQ(runs.expired, 1);
  EXPECT_EQ(runs.expired_twice, 0);
  ExpiryReport expiry = MeasureExpiryDelays(url());
  EXPECT_EQ(expiry.expired_runs, 1);
  EXPECT_NEAR(expiry.max_delay_seconds, 0.5, 1e-6);
  OkLogReport ok = CheckOkLogs(url(), {WriteLog(kGoodLines)});
  EXPECT_EQ(ok.missing, 0) << absl::StrJoin(ok.examples, "\n");
  EXPECT_EQ(ok.entries, static_cast<int64_t>(kGoodLines.size()));
}

TEST_F(FaultChecks, ClaimOfAHeldFileIsReported) {
  // Run 3 claims file 2 while run 2 still holds it.
  Sql("INSERT INTO file_events (id, file_id, kind, from_status, to_status, "
      "run_id) VALUES (55, 2, 'CLAIMED', 'NEW', 'PROCESSING', 3)");
  HistoryReport files = CheckFileHistories(url());
  EXPECT_NE(Find(files.violations, "still held by run 2"), "")
      << absl::StrJoin(files.violations, "\n");
}

TEST_F(FaultChecks, OutcomeByARunNotHoldingTheFileIsReported) {
  Sql("UPDATE file_events SET run_id = 2 WHERE id = 30");
  HistoryReport files = CheckFileHistories(url());
  EXPECT_NE(Find(files.violations, "held by run 1"), "")
      << absl::StrJoin(files.violations, "\n");
}

TEST_F(FaultChecks, FileSucceedingTwiceIsCounted) {
  Sql("INSERT INTO file_events (id, file_id, kind, from_status, to_status, "
      "run_id) VALUES (31, 1, 'COMPLETED', 'PROCESSING', 'SUCCESS', 1)");
  HistoryReport files = CheckFileHistories(url());
  EXPECT_EQ(files.succeeded_twice, 1);
  EXPECT_EQ(files.succeeded_once, 1);
  EXPECT_GT(files.violation_count, 0);
}

TEST_F(FaultChecks, LostEventIsReported) {
  // File 1 is SUCCESS but its COMPLETED event is gone.
  Sql("DELETE FROM file_events WHERE id = 30");
  HistoryReport files = CheckFileHistories(url());
  EXPECT_NE(Find(files.violations,
                 "status SUCCESS but its events end in "
                 "PROCESSING"),
            "")
      << absl::StrJoin(files.violations, "\n");
}

TEST_F(FaultChecks, SecondRegistrationIsReported) {
  Sql("INSERT INTO file_events (id, file_id, kind, from_status, to_status) "
      "VALUES (15, 1, 'REGISTERED', NULL, 'NEW')");
  HistoryReport files = CheckFileHistories(url());
  EXPECT_NE(Find(files.violations, "registered twice"), "")
      << absl::StrJoin(files.violations, "\n");
}

TEST_F(FaultChecks, FileWithoutEventsIsReported) {
  Sql("INSERT INTO files (id, source, file_name) "
      "VALUES (3, 'landing', 'c.csv')");
  HistoryReport files = CheckFileHistories(url());
  EXPECT_NE(Find(files.violations, "1 files have no events"), "")
      << absl::StrJoin(files.violations, "\n");
}

TEST_F(FaultChecks, WrongHolderOnTheFileIsReported) {
  Sql("UPDATE files SET run_id = 2 WHERE id = 2");
  HistoryReport files = CheckFileHistories(url());
  EXPECT_NE(Find(files.violations, "last claimed by run 3"), "")
      << absl::StrJoin(files.violations, "\n");
}

TEST_F(FaultChecks, RunExpiredTwiceIsReported) {
  Sql("INSERT INTO run_events (id, run_id, kind, from_status, to_status, "
      "message) VALUES (7, 2, 'EXPIRED', 'PROCESSING', 'ERROR', "
      "'lease expired')");
  RunReport runs = CheckRunHistories(url());
  EXPECT_EQ(runs.expired_twice, 1);
  EXPECT_NE(Find(runs.violations, "run 2: ended 2 times"), "")
      << absl::StrJoin(runs.violations, "\n");
}

TEST_F(FaultChecks, FinishedRunAlsoExpiredIsReported) {
  Sql("INSERT INTO run_events (id, run_id, kind, from_status, to_status, "
      "message) VALUES (7, 1, 'EXPIRED', 'PROCESSING', 'ERROR', "
      "'lease expired')");
  RunReport runs = CheckRunHistories(url());
  EXPECT_NE(Find(runs.violations, "run 1: ended 2 times"), "")
      << absl::StrJoin(runs.violations, "\n");
}

TEST_F(FaultChecks, RunWithoutStartIsReported) {
  Sql("DELETE FROM run_events WHERE id = 5");
  RunReport runs = CheckRunHistories(url());
  EXPECT_NE(Find(runs.violations, "run 3: 0 STARTED events"), "")
      << absl::StrJoin(runs.violations, "\n");
}

TEST_F(FaultChecks, ExpiredRunWithoutLeaseMessageIsReported) {
  Sql("UPDATE task_log SET error_message = 'worker gave up' WHERE id = 2");
  RunReport runs = CheckRunHistories(url());
  EXPECT_NE(Find(runs.violations, "run 2: expired but ERROR"), "")
      << absl::StrJoin(runs.violations, "\n");
}

TEST_F(FaultChecks, RunStatusDisagreeingWithEventsIsReported) {
  Sql("UPDATE task_log SET status = 'ERROR' WHERE id = 1");
  RunReport runs = CheckRunHistories(url());
  EXPECT_NE(Find(runs.violations,
                 "run 1: status ERROR but events end in "
                 "SUCCESS"),
            "")
      << absl::StrJoin(runs.violations, "\n");
}

TEST_F(FaultChecks, LateExpiryIsMeasured) {
  Sql("UPDATE run_events SET event_time = event_time + interval '5 s' "
      "WHERE id = 4");
  EXPECT_NEAR(MeasureExpiryDelays(url()).max_delay_seconds, 5.5, 1e-6);
  // While no daemon was up, the delay counts from when one served again
  // (here 5 s after the lease lapsed).
  const int64_t lapsed =
      std::stoll(Sql("SELECT metad_us(timestamptz '2026-01-01 00:00:02+00')"));
  EXPECT_NEAR(MeasureExpiryDelays(url(), {{lapsed - 1000000, lapsed + 5000000}})
                  .max_delay_seconds,
              0.5, 1e-6);
}

TEST_F(FaultChecks, EveryKindOfOkLineCanBeMissing) {
  // Each line claims something the database does not have.
  const std::vector<std::string> bad = {
      "S 9",        // no such run
      "K 1 2",      // file 2 was never claimed by run 1
      "C 3 2",      // file 2 was finished by run 3, not completed
      "F 2 0",      // run 2 expired, it did not finish
      "G 1 2",      // run 1's finish did not set file 2
      "R 1 b.csv",  // file 1 is a.csv
      "A 1",        // run 1 finished, it did not expire
  };
  for (const std::string& line : bad) {
    OkLogReport ok = CheckOkLogs(url(), {WriteLog({"S 1", line})});
    EXPECT_EQ(ok.missing, 1) << line;
    EXPECT_EQ(ok.entries, 2) << line;
  }
}

}  // namespace
}  // namespace metad::testing
