// Fault: connections exhausted, two ways.
//   1. The database's max_connections is reached (a dedicated cluster whose
//      free slots another client takes): calls that need a new connection
//      fail at once with UNAVAILABLE saying "too many connections", the
//      others are served, nothing hangs to its deadline, and once the slots
//      are free again every call is served (no restart).
//   2. The daemon's own limits are reached (--pool_size 2 --max_queued_calls
//      4, 32 concurrent calls whose SQL blocks on a lock): the excess gets
//      RESOURCE_EXHAUSTED at once, the admitted calls DEADLINE_EXCEEDED at
//      their deadline, no call hangs beyond it (no deadlock), twice in a
//      row, and calls are served again as soon as the load drops.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr double kSlack = 0.5;

// Runs `threads` callers for `seconds`, each alternating GetFile(id) and a
// RegisterFile of a new name, and tallies the outcomes.
struct Burst {
  CallTally tally;
  std::mutex mu;
  std::vector<std::string> messages;  // distinct failure messages
};

void RunBurst(std::shared_ptr<grpc::Channel> channel, int threads,
              double seconds, double deadline, int64_t file_id,
              const std::string& tag, Burst* burst) {
  std::vector<std::thread> pool;
  const double end = MonoSeconds() + seconds;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto files = FileService::NewStub(channel);
      for (int n = 0; MonoSeconds() < end; ++n) {
        grpc::Status s;
        double start = MonoSeconds();
        if (n % 2 == 0) {
          GetFileRequest req;
          req.set_id(file_id);
          File file;
          s = files->GetFile(Ctx(deadline).get(), req, &file);
        } else {
          RegisterFileRequest req;
          req.mutable_file()->set_source("landing");
          req.mutable_file()->set_file_name(
              absl::StrCat(tag, "-", t, "-", n, ".csv"));
          RegisterFileResponse resp;
          s = files->RegisterFile(Ctx(deadline).get(), req, &resp);
        }
        burst->tally.Record(s.error_code(), MonoSeconds() - start);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(burst->mu);
          std::string m =
              absl::StrCat(CodeName(s.error_code()), ": ", s.error_message());
          if (std::find(burst->messages.begin(), burst->messages.end(), m) ==
              burst->messages.end()) {
            burst->messages.push_back(m);
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
    });
  }
  for (auto& th : pool) th.join();
}

// Health answers counted on a background thread (every 100 ms) until Stop.
class HealthCounter {
 public:
  explicit HealthCounter(std::shared_ptr<grpc::Channel> channel)
      : thread_([this, channel] {
          auto health = grpc::health::v1::Health::NewStub(channel);
          while (!stop_.load()) {
            HealthCheckRequest req;
            HealthCheckResponse resp;
            if (health->Check(Ctx(1).get(), req, &resp).ok()) {
              ++probes_;
              if (resp.status() != HealthCheckResponse::SERVING) ++not_serving_;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        }) {}
  ~HealthCounter() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t probes() const { return probes_.load(); }
  int64_t not_serving() const { return not_serving_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> probes_{0}, not_serving_{0};
  std::thread thread_;
};

// Registers landing/seed.csv for the GetFile calls; its id, 0 on failure.
int64_t RegisterSeedFile(std::shared_ptr<grpc::Channel> channel) {
  auto files = FileService::NewStub(channel);
  RegisterFileRequest req;
  req.mutable_file()->set_source("landing");
  req.mutable_file()->set_file_name("seed.csv");
  RegisterFileResponse resp;
  if (!files->RegisterFile(Ctx().get(), req, &resp).ok()) return 0;
  return resp.file().id();
}

// Opens connections to `url` until the server refuses one (at most `limit`).
std::vector<std::unique_ptr<pqxx::connection>> TakeEverySlot(
    const std::string& url, int limit) {
  std::vector<std::unique_ptr<pqxx::connection>> held;
  for (int i = 0; i < limit; ++i) {
    try {
      held.push_back(std::make_unique<pqxx::connection>(url));
    } catch (const std::exception&) {
      break;
    }
  }
  return held;
}

TEST(FaultsConnections, DatabaseMaxConnectionsReachedThenFreed) {
  constexpr int kPoolSize = 8;
  constexpr double kDeadline = 2;
  PgCluster cluster;
  ASSERT_TRUE(cluster.Create({"max_connections=20"}));
  CreateDatabase(cluster.Url("postgres"), "metad");
  const std::string url = cluster.Url("metad");
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Spawn(
      url, {"--pool_size", absl::StrCat(kPoolSize), "--drain", "2"}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();
  auto channel = daemon.channel();
  const int64_t file_id = RegisterSeedFile(channel);
  ASSERT_GT(file_id, 0);
  const int64_t metad_connections_before =
      QueryInt(cluster.Url("postgres"),
               "SELECT count(*) FROM pg_stat_activity WHERE datname = 'metad'");

  // Take every free slot.
  auto hogs = TakeEverySlot(cluster.Url("postgres"), 100);
  ASSERT_FALSE(hogs.empty());
  ASSERT_LT(hogs.size(), 100u);
  const int64_t hog_count = static_cast<int64_t>(hogs.size());

  // Health while the database refuses connections.
  HealthCounter health_counter(channel);

  Burst exhausted;
  RunBurst(channel, 16, ShortOrLong(3.0, 10.0), kDeadline, file_id, "x",
           &exhausted);
  const int64_t ok = exhausted.tally.count(grpc::StatusCode::OK);
  const int64_t unavailable =
      exhausted.tally.count(grpc::StatusCode::UNAVAILABLE);
  const int64_t exhausted_code =
      exhausted.tally.count(grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ok + unavailable + exhausted_code, exhausted.tally.total())
      << exhausted.tally.Summary();
  // Calls that needed a new connection were refused.
  EXPECT_GT(unavailable, 0) << exhausted.tally.Summary();
  EXPECT_EQ(exhausted.tally.count(grpc::StatusCode::DEADLINE_EXCEEDED), 0);
  double worst = 0;
  for (auto code : {grpc::StatusCode::OK, grpc::StatusCode::UNAVAILABLE,
                    grpc::StatusCode::RESOURCE_EXHAUSTED}) {
    worst = std::max(worst, exhausted.tally.max_seconds(code));
  }
  EXPECT_LE(worst, kDeadline);
  // Clear messages: they say why, and hold no SQL. A refused connection
  // (SQLSTATE 53300) reaches the daemon as a plain pqxx::broken_connection
  // with libpqxx 6.4; store/error_mapping.cc used to call that "the database
  // is unreachable" (found by this suite, fixed there).
  for (const std::string& m : exhausted.messages) {
    EXPECT_EQ(m.find("SELECT"), std::string::npos) << m;
    EXPECT_EQ(m.find("INSERT"), std::string::npos) << m;
    if (m.rfind("UNAVAILABLE", 0) == 0) {
      EXPECT_NE(m.find("too many connections"), std::string::npos) << m;
    }
  }
  // Counted on a connection already held: no slot is free for a new one.
  int64_t metad_connections_peak = 0;
  {
    pqxx::nontransaction tx(*hogs.back());
    metad_connections_peak = tx.exec(
                                   "SELECT count(*) FROM pg_stat_activity "
                                   "WHERE datname = 'metad'")[0][0]
                                 .as<int64_t>();
  }

  // Free the slots: calls are served again, without a restart.
  hogs.clear();
  const double freed = MonoSeconds();
  double recovered = -1;
  Burst after;
  while (MonoSeconds() < freed + 15) {
    Burst window;
    RunBurst(channel, 16, 1.0, kDeadline, file_id,
             absl::StrCat("y", int(MonoSeconds() * 1000)), &window);
    if (window.tally.count(grpc::StatusCode::OK) == window.tally.total()) {
      recovered = MonoSeconds() - 1.0 - freed;
      break;
    }
  }
  health_counter.Stop();
  EXPECT_GE(recovered, 0) << "calls still fail after the slots were freed";
  EXPECT_LE(recovered, 5.0);
  RunBurst(channel, 16, 1.0, kDeadline, file_id, "z", &after);
  EXPECT_EQ(after.tally.count(grpc::StatusCode::OK), after.tally.total())
      << after.tally.Summary();
  // metad never holds more connections than its pool.
  EXPECT_LE(metad_connections_peak, kPoolSize);

  Figures("connections_max_connections")
      .Add("max_connections", int64_t{20})
      .Add("pool_size", int64_t{kPoolSize})
      .Add("metad_connections_before", metad_connections_before)
      .Add("slots_taken_by_other_client", hog_count)
      .Add("calls", exhausted.tally.total())
      .Add("calls_ok", ok)
      .Add("calls_unavailable", unavailable)
      .Add("calls_resource_exhausted", exhausted_code)
      .Add("calls_other",
           exhausted.tally.total() - ok - unavailable - exhausted_code)
      .Add("max_latency_s", worst)
      .Add("health_probes", health_counter.probes())
      .Add("health_not_serving", health_counter.not_serving())
      .Add("recovered_after_s", recovered)
      .Add("calls_after_recovery", after.tally.total())
      .Add("failed_after_recovery",
           after.tally.total() - after.tally.count(grpc::StatusCode::OK))
      .Add("messages", absl::StrJoin(exhausted.messages, " | "))
      .Emit();
  std::printf("while exhausted: %s\n", exhausted.tally.Summary().c_str());

  channel.reset();
  int status = daemon.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << daemon.ReadLog();
}

TEST(FaultsConnections, PoolAndQueueFullOfSlowCalls) {
  constexpr int kCallers = 32;
  constexpr int kPoolSize = 2;
  constexpr int kQueue = 4;
  constexpr double kDeadline = 1.5;
  const std::string url = CreateEmptyDatabase("faults_pool");
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Spawn(
      url, {"--pool_size", absl::StrCat(kPoolSize), "--max_queued_calls",
            absl::StrCat(kQueue), "--drain", "2"}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();
  auto channel = daemon.channel();
  const int64_t file_id = RegisterSeedFile(channel);
  ASSERT_GT(file_id, 0);

  const int kWaves = ShortOrLong(2, 5);
  CallTally slow;
  double wave_worst = 0;
  // Health while the pool is saturated (reported, not asserted: the
  // monitor's ping waits for a pooled connection like any call).
  HealthCounter health_counter(channel);
  for (int wave = 0; wave < kWaves; ++wave) {
    // Every GetFile's SQL now blocks until the deadline.
    pqxx::connection locker(url);
    pqxx::work lock_tx(locker);
    lock_tx.exec("LOCK TABLE files IN ACCESS EXCLUSIVE MODE");
    std::atomic<int> ready{0};
    std::vector<std::thread> callers;
    const double wave_start = MonoSeconds();
    for (int t = 0; t < kCallers; ++t) {
      callers.emplace_back([&] {
        auto files = FileService::NewStub(channel);
        ++ready;
        while (ready.load() < kCallers) std::this_thread::yield();
        GetFileRequest req;
        req.set_id(file_id);
        File file;
        double start = MonoSeconds();
        grpc::Status s = files->GetFile(Ctx(kDeadline).get(), req, &file);
        slow.Record(s.error_code(), MonoSeconds() - start);
      });
    }
    for (auto& th : callers) th.join();
    wave_worst = std::max(wave_worst, MonoSeconds() - wave_start);
    lock_tx.abort();
  }
  health_counter.Stop();
  const int64_t exhausted = slow.count(grpc::StatusCode::RESOURCE_EXHAUSTED);
  const int64_t deadline = slow.count(grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(exhausted + deadline, slow.total()) << slow.Summary();
  // At most pool + queue calls are admitted per wave; the rest are refused.
  EXPECT_GE(exhausted, kWaves * (kCallers - kPoolSize - kQueue))
      << slow.Summary();
  // Refused at once, and nothing outlives its deadline.
  EXPECT_LE(slow.max_seconds(grpc::StatusCode::RESOURCE_EXHAUSTED), kSlack);
  EXPECT_LE(slow.max_seconds(grpc::StatusCode::DEADLINE_EXCEEDED),
            kDeadline + kSlack);
  EXPECT_LE(wave_worst, kDeadline + kSlack);

  // Load drops to what the pool and queue admit: everything is served.
  // (kQueue callers, not kPoolSize + kQueue: admission counts queued calls,
  // and a handler thread that has just answered its caller takes a moment to
  // take the next one, while that caller may already have sent again.)
  Burst after;
  RunBurst(channel, kQueue, 1.0, 5, file_id, "after", &after);
  EXPECT_GT(after.tally.total(), 0);
  EXPECT_EQ(after.tally.count(grpc::StatusCode::OK), after.tally.total())
      << after.tally.Summary();
  // Health is SERVING again once the pool is free (the monitor's ping
  // shares the pool).
  auto health = grpc::health::v1::Health::NewStub(channel);
  bool serving = false;
  for (double give_up = MonoSeconds() + 5; MonoSeconds() < give_up;) {
    HealthCheckRequest req;
    HealthCheckResponse resp;
    if (health->Check(Ctx(1).get(), req, &resp).ok() &&
        resp.status() == HealthCheckResponse::SERVING) {
      serving = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(serving);

  Figures("connections_pool_full")
      .Add("pool_size", int64_t{kPoolSize})
      .Add("max_queued_calls", int64_t{kQueue})
      .Add("waves", int64_t{kWaves})
      .Add("concurrent_calls_per_wave", int64_t{kCallers})
      .Add("calls", slow.total())
      .Add("resource_exhausted", exhausted)
      .Add("deadline_exceeded", deadline)
      .Add("max_resource_exhausted_latency_s",
           slow.max_seconds(grpc::StatusCode::RESOURCE_EXHAUSTED))
      .Add("max_deadline_exceeded_latency_s",
           slow.max_seconds(grpc::StatusCode::DEADLINE_EXCEEDED))
      .Add("deadline_s", kDeadline)
      .Add("health_probes_during_waves", health_counter.probes())
      .Add("health_not_serving_during_waves", health_counter.not_serving())
      .Add("calls_after", after.tally.total())
      .Add("failed_after",
           after.tally.total() - after.tally.count(grpc::StatusCode::OK))
      .Emit();
  std::printf("slow waves: %s\n", slow.Summary().c_str());

  health.reset();
  channel.reset();
  int status = daemon.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << daemon.ReadLog();
}

}  // namespace
}  // namespace metad::testing
