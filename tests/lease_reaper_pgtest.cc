// The lease reaper: lapsed runs end as ERROR "lease expired", their files go
// back to NEW, later calls from the lost run are refused, and reapers of
// several replicas sweeping together end each run exactly once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "daemon/background/lease_reaper.h"
#include "tests/run_fixtures.h"

namespace metad::testing {
namespace {

using ::metad::v1::RUN_STATUS_SUCCESS;

class LeaseReaperTest : public RunServiceTest {
 protected:
  // `n` PROCESSING runs of a new task, each in its own batch, with lapsed
  // leases and one held file each, made with SQL.
  void InsertLapsedRuns(int n) {
    int64_t task = CreateTask("bulk");
    Sql(absl::StrCat(
        "INSERT INTO task_log (task_id, batch_id, status, attempt, "
        "lease_seconds, lease_expire_time) SELECT ",
        task,
        ", 'b' || g, 'PROCESSING', 1, 60, now() - g * interval '1 ms' "
        "FROM generate_series(1, ",
        n, ") g"));
    Sql("INSERT INTO files (source, file_name, status, run_id) "
        "SELECT 'bulk', 'f' || id, 'PROCESSING', id FROM task_log");
  }
};

TEST_F(LeaseReaperTest, SweepEndsLapsedRunAndReleasesItsFiles) {
  CreateTask("t");
  int64_t live = MustStart("t", "b1");
  int64_t lost = MustStart("t", "b2");
  int64_t held1 = AddFile("h1", "PROCESSING", lost);
  int64_t held2 = AddFile("h2", "PROCESSING", lost);
  int64_t completed = AddFile("c", "SUCCESS", lost);
  int64_t live_file = AddFile("l", "PROCESSING", live);
  LapseLease(lost);

  daemon::LeaseReaper reaper(db(), absl::Hours(1));
  EXPECT_EQ(reaper.SweepOnce(), 1);
  EXPECT_EQ(reaper.SweepOnce(), 0);

  EXPECT_EQ(RunState(lost), "ERROR:lease expired:true:true");
  EXPECT_EQ(Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ", live)),
            "PROCESSING");
  EXPECT_EQ(FileStatus(held1), "NEW/null");
  EXPECT_EQ(FileStatus(held2), "NEW/null");
  EXPECT_EQ(FileStatus(completed), absl::StrCat("SUCCESS/", lost));
  EXPECT_EQ(FileStatus(live_file), absl::StrCat("PROCESSING/", live));
  EXPECT_EQ(
      Sql("SELECT string_agg(file_id || ':' || kind || ':' || "
          "from_status || '>' || to_status || ':' || run_id || ':' || "
          "message, ',' ORDER BY file_id) FROM file_events"),
      absl::StrCat(held1, ":RELEASED:PROCESSING>NEW:", lost, ":lease expired,",
                   held2, ":RELEASED:PROCESSING>NEW:", lost, ":lease expired"));
  EXPECT_EQ(Sql(absl::StrCat("SELECT string_agg(kind || ':' || "
                             "coalesce(from_status, '-') || '>' || to_status "
                             "|| ':' || message, ',' ORDER BY id) FROM "
                             "run_events WHERE run_id = ",
                             lost)),
            "STARTED:->PROCESSING:,EXPIRED:PROCESSING>ERROR:lease expired");

  // The lost worker comes back: every call is refused, nothing changes.
  std::string ended =
      absl::StrCat("run ", lost, " has ended (ERROR: lease expired)");
  grpc::Status status = Beat(lost);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), ended);
  status = Finish(lost, RUN_STATUS_SUCCESS);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), ended);
  EXPECT_EQ(FileStatus(held1), "NEW/null");
  EXPECT_EQ(Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ", lost)),
            "ERROR");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM run_events WHERE run_id "
                               "= ",
                               lost)),
            2);
}

TEST_F(LeaseReaperTest, OneSweepWorksOffSeveralRounds) {
  InsertLapsedRuns(250);
  daemon::LeaseReaper reaper(db(), absl::Hours(1));
  EXPECT_EQ(reaper.SweepOnce(), 250);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE status = 'ERROR'"), 250);
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status = 'NEW'"), 250);
}

TEST_F(LeaseReaperTest, ConcurrentReapersEndEachRunExactlyOnce) {
  constexpr int kRuns = 300;
  InsertLapsedRuns(kRuns);
  // Two replicas, each with its own pool, two sweeping threads each.
  std::vector<std::unique_ptr<store::Database>> pools;
  std::vector<std::unique_ptr<daemon::LeaseReaper>> reapers;
  for (int i = 0; i < 2; ++i) {
    store::DatabaseOptions options;
    options.url = url();
    options.pool_size = 4;
    pools.push_back(std::make_unique<store::Database>(options));
    reapers.push_back(std::make_unique<daemon::LeaseReaper>(pools.back().get(),
                                                            absl::Hours(1)));
  }
  std::atomic<bool> go{false};
  std::atomic<int> ended{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      ended += reapers[i % 2]->SweepOnce();
    });
  }
  go = true;
  for (auto& t : threads) t.join();

  EXPECT_EQ(ended.load(), kRuns);
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'EXPIRED'"),
            kRuns);
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT run_id FROM run_events "
                  "WHERE kind = 'EXPIRED' GROUP BY run_id "
                  "HAVING count(*) <> 1) x"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind = 'RELEASED'"),
            kRuns);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE status <> 'ERROR'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status <> 'NEW'"), 0);
  EXPECT_EQ(reapers[0]->SweepOnce() + reapers[1]->SweepOnce(), 0);
}

TEST_F(LeaseReaperTest, BackgroundThreadEndsLapsedRun) {
  CreateTask("t");
  int64_t run_id = MustStart("t", "b1");
  int64_t held = AddFile("h", "PROCESSING", run_id);
  LapseLease(run_id);
  daemon::LeaseReaper reaper(db(), absl::Milliseconds(50));
  reaper.Start();
  // A generous bound, not a timing assertion: the sweep runs every 50 ms.
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  std::string status;
  while (absl::Now() < give_up) {
    status =
        Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ", run_id));
    if (status != "PROCESSING") break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  reaper.Stop();
  EXPECT_EQ(status, "ERROR");
  EXPECT_EQ(FileStatus(held), "NEW/null");
}

TEST_F(LeaseReaperTest, SurvivesAnUnreachableDatabase) {
  store::DatabaseOptions options;
  options.url =
      "host=/nonexistent-metad-socket port=5432 dbname=x "
      "connect_timeout=1";
  store::Database unreachable(options);
  daemon::LeaseReaper reaper(&unreachable, absl::Milliseconds(10));
  EXPECT_EQ(reaper.SweepOnce(), 0);
  reaper.Start();
  // Let the thread fail a few sweeps; it must neither crash nor hang Stop().
  absl::SleepFor(absl::Milliseconds(100));
  reaper.Stop();
  // The same reaper type on a reachable database still works afterwards.
  CreateTask("t");
  int64_t run_id = MustStart("t", "b1");
  LapseLease(run_id);
  daemon::LeaseReaper healthy(db(), absl::Hours(1));
  EXPECT_EQ(healthy.SweepOnce(), 1);
}

// The lease clock (store/lease_clock.h). An outage is made by moving the
// last tick back: as if no daemon reached the database for that gap.
class LeaseClockTest : public LeaseReaperTest {
 protected:
  // The clock as a reaper left it `seconds_ago`, stale after 3 s.
  void TickedSecondsAgo(int seconds_ago) {
    Sql("DELETE FROM metad_reaper_clock");
    Sql(absl::StrCat(
        "INSERT INTO metad_reaper_clock (replica, last_tick, stale_after) "
        "VALUES ('test', now() - interval '",
        seconds_ago, " seconds', interval '3 seconds')"));
  }
  // Sets the run's lease to lapse `seconds` from now (negative: ago).
  void LeaseIn(int64_t run_id, int seconds) {
    Sql(absl::StrCat("UPDATE task_log SET lease_expire_time = now() + ",
                     seconds, " * interval '1 second' WHERE id = ", run_id));
  }
  std::string LeaseLeft(int64_t run_id) {
    return Sql(absl::StrCat(
        "SELECT round(extract(epoch FROM lease_expire_time - now())) "
        "FROM task_log WHERE id = ",
        run_id));
  }
};

TEST_F(LeaseClockTest, AnOutageDoesNotExpireLeasesThatLapsedInIt) {
  CreateTask("t");
  int64_t in_gap = MustStart("t", "b1");
  int64_t before_gap = MustStart("t", "b2");
  int64_t live = MustStart("t", "b3");
  TickedSecondsAgo(100);      // the database was away for 100 s
  LeaseIn(in_gap, -40);       // lapsed 60 s into the outage
  LeaseIn(before_gap, -200);  // lapsed before the outage: really lost
  LeaseIn(live, 30);

  daemon::LeaseReaper reaper(db(), absl::Seconds(1));
  EXPECT_EQ(reaper.SweepOnce(), 1);
  EXPECT_EQ(reaper.leases_extended(), 1);
  EXPECT_EQ(RunState(before_gap), "ERROR:lease expired:true:true");
  // The lease keeps what it had left when the database went away (60 s).
  EXPECT_EQ(LeaseLeft(in_gap), "60");
  EXPECT_EQ(LeaseLeft(live), "30");
  // Its worker's heartbeats keep it.
  EXPECT_TRUE(Beat(in_gap).ok());

  // The clock is fresh now: a lease that lapses later (the worker died
  // after all) is expired as before, and nothing is extended twice.
  LapseLease(in_gap);
  EXPECT_EQ(reaper.SweepOnce(), 1);
  EXPECT_EQ(reaper.leases_extended(), 1);
  EXPECT_EQ(RunState(in_gap), "ERROR:lease expired:true:true");
}

TEST_F(LeaseClockTest, AHeartbeatFirstThroughAfterAnOutageIsNotRefused) {
  CreateTask("t");
  int64_t run_id = MustStart("t", "b1");
  TickedSecondsAgo(100);
  LeaseIn(run_id, -5);
  // No reaper has swept yet: the heartbeat catches the clock up itself.
  grpc::Status status = Beat(run_id);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(
      Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ", run_id)),
      "PROCESSING");
  EXPECT_EQ(Sql("SELECT now() - max(last_tick) < interval '1 minute' "
                "FROM metad_reaper_clock"),
            "t");
}

TEST_F(LeaseClockTest, AFreshClockOwesNothing) {
  CreateTask("t");
  int64_t run_id = MustStart("t", "b1");
  TickedSecondsAgo(1);  // within stale_after
  LapseLease(run_id);
  EXPECT_EQ(Beat(run_id).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(RunState(run_id), "ERROR:lease expired:true:true");
}

}  // namespace
}  // namespace metad::testing
