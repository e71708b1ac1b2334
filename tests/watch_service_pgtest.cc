// WatchService through real gRPC on a real PostgreSQL, in both watch modes
// (LISTEN/NOTIFY and polling): order and filters, the start position,
// commits out of id order, resuming under concurrent writers across two
// replicas and a restart, cancel, shutdown, limits and refusals.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "tests/support/pg_test_base.h"
#include "tests/watch_test_support.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity
using daemon::WatchMode;
using daemon::WatchOptions;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return c;
}

// The writing side of a client.
struct Writer {
  explicit Writer(std::shared_ptr<grpc::Channel> channel)
      : files(FileService::NewStub(channel)),
        runs(TaskLogService::NewStub(channel)) {}

  std::vector<int64_t> Register(const std::string& source,
                                const std::vector<std::string>& names) {
    RegisterFilesRequest request;
    for (const std::string& name : names) {
      FileSpec* spec = request.add_files();
      spec->set_source(source);
      spec->set_file_name(name);
    }
    RegisterFilesResponse response;
    grpc::Status s = files->RegisterFiles(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<int64_t> ids;
    for (const auto& r : response.results()) ids.push_back(r.file().id());
    return ids;
  }

  int64_t StartRun(const std::string& task, const std::string& batch) {
    StartRunRequest request;
    request.set_task(task);
    request.set_batch_id(batch);
    request.set_lease_seconds(300);
    StartRunResponse response;
    grpc::Status s = runs->StartRun(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.run().id();
  }

  std::vector<int64_t> Claim(int64_t run_id, const std::string& source,
                             int limit) {
    ClaimFilesRequest request;
    request.set_run_id(run_id);
    request.set_source(source);
    request.set_limit(limit);
    ClaimFilesResponse response;
    grpc::Status s = files->ClaimFiles(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<int64_t> ids;
    for (const auto& f : response.files()) ids.push_back(f.id());
    return ids;
  }

  void Complete(int64_t file_id, int64_t run_id, FileStatus status) {
    CompleteFileRequest request;
    request.set_file_id(file_id);
    request.set_run_id(run_id);
    request.set_status(status);
    if (status == FILE_STATUS_ERROR) request.set_error_message("bad rows");
    CompleteFileResponse response;
    grpc::Status s = files->CompleteFile(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  void Finish(int64_t run_id, RunStatus status) {
    FinishRunRequest request;
    request.set_run_id(run_id);
    request.set_status(status);
    if (status == RUN_STATUS_ERROR) request.set_error_message("boom");
    // These tests watch events, not which files a worker saw: every held
    // file takes the outcome.
    request.set_settle_all_held(true);
    FinishRunResponse response;
    grpc::Status s = runs->FinishRun(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  std::unique_ptr<FileService::Stub> files;
  std::unique_ptr<TaskLogService::Stub> runs;
};

WatchFilesRequest FilesAfter(int64_t after) {
  WatchFilesRequest request;
  request.set_after_event_id(after);
  return request;
}

WatchRunsRequest RunsAfter(int64_t after) {
  WatchRunsRequest request;
  request.set_after_event_id(after);
  return request;
}

class WatchTest : public PgTest {
 protected:
  WatchOptions Options(WatchMode mode) {
    WatchOptions options;
    options.mode = mode;
    options.poll_interval = absl::Milliseconds(50);
    return options;
  }

  // Writes a file event in `tx`, which the caller keeps open: the event's
  // id is taken but not committed. Returns the id.
  static int64_t TakeEventId(pqxx::work& tx, int64_t file_id) {
    return tx
        .exec1(absl::StrCat("INSERT INTO file_events (file_id, kind, "
                            "to_status) VALUES (",
                            file_id, ", 'NOTE', 'NEW') RETURNING id"))[0]
        .as<int64_t>();
  }

  void AddTask(const std::string& name) {
    Sql(absl::StrCat("INSERT INTO tasks (name) VALUES ('", name, "')"));
  }

  // Ids selected by `sql` (one bigint column), in its order.
  std::vector<int64_t> Ids(const std::string& sql) {
    std::string joined = Sql(absl::StrCat(
        "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM (",
        sql, ") q"));
    std::vector<int64_t> ids;
    for (absl::string_view part :
         absl::StrSplit(joined, ',', absl::SkipEmpty())) {
      ids.push_back(std::stoll(std::string(part)));
    }
    return ids;
  }

  // A second pool on the same database, as another replica would have.
  store::Database* OtherDb() {
    if (other_db_ == nullptr) {
      store::DatabaseOptions options;
      options.url = url();
      options.pool_size = 16;
      other_db_ = std::make_unique<store::Database>(options);
    }
    return other_db_.get();
  }

 private:
  std::unique_ptr<store::Database> other_db_;
};

class WatchModeTest : public WatchTest,
                      public ::testing::WithParamInterface<WatchMode> {};

INSTANTIATE_TEST_SUITE_P(Modes, WatchModeTest,
                         ::testing::Values(WatchMode::kNotify,
                                           WatchMode::kPoll),
                         [](const ::testing::TestParamInfo<WatchMode>& info) {
                           return info.param == WatchMode::kNotify
                                      ? std::string("Notify")
                                      : std::string("Poll");
                         });

TEST_P(WatchModeTest, FileEventsArriveInIdOrderWithFilters) {
  WatchServer server(db(), Options(GetParam()));
  Writer w(server.channel());
  AddTask("load");
  // History before the streams start ...
  std::vector<int64_t> alpha = w.Register("alpha", {"a1.csv", "a2.csv"});
  w.Register("beta", {"b1.csv"});
  int64_t run = w.StartRun("load", "b1");
  ASSERT_EQ(w.Claim(run, "alpha", 10).size(), 2u);
  w.Complete(alpha[0], run, FILE_STATUS_SUCCESS);

  WatchFilesRequest by_source = FilesAfter(-1);
  by_source.set_source("alpha");
  WatchFilesRequest by_status = FilesAfter(-1);
  by_status.set_status(FILE_STATUS_SUCCESS);
  WatchFilesRequest by_file = FilesAfter(-1);
  by_file.set_file_id(alpha[1]);
  auto all = WatchFiles(server.channel(), FilesAfter(-1));
  auto source = WatchFiles(server.channel(), by_source);
  auto status = WatchFiles(server.channel(), by_status);
  auto file = WatchFiles(server.channel(), by_file);

  // ... and live changes after.
  w.Register("beta", {"b2.csv"});
  w.Finish(run, RUN_STATUS_SUCCESS);  // a2: PROCESSING -> SUCCESS

  std::vector<int64_t> want_all = Ids("SELECT id FROM file_events");
  std::vector<int64_t> want_source =
      Ids("SELECT e.id FROM file_events e JOIN files f ON f.id = e.file_id "
          "WHERE f.source = 'alpha'");
  std::vector<int64_t> want_status =
      Ids("SELECT id FROM file_events WHERE to_status = 'SUCCESS'");
  std::vector<int64_t> want_file = Ids(
      absl::StrCat("SELECT id FROM file_events WHERE file_id = ", alpha[1]));
  // 4 registered, 2 claimed, a1 completed, a2 finished with the run.
  ASSERT_EQ(want_all.size(), 8u);
  EXPECT_EQ(want_status.size(), 2u);
  EXPECT_EQ(want_file.size(), 3u);  // registered, claimed, finished

  ASSERT_TRUE(all->WaitFor(want_all.size()));
  ASSERT_TRUE(source->WaitFor(want_source.size()));
  ASSERT_TRUE(status->WaitFor(want_status.size()));
  ASSERT_TRUE(file->WaitFor(want_file.size()));
  EXPECT_EQ(all->ids(), want_all);
  EXPECT_EQ(source->ids(), want_source);
  EXPECT_EQ(status->ids(), want_status);
  EXPECT_EQ(file->ids(), want_file);

  std::vector<WatchedFileEvent> events = file->events();
  EXPECT_EQ(events.back().source(), "alpha");
  EXPECT_EQ(events.back().file_name(), "a2.csv");
  EXPECT_EQ(events.back().event().kind(), "FINISHED");
  EXPECT_EQ(events.back().event().from_status(), FILE_STATUS_PROCESSING);
  EXPECT_EQ(events.back().event().to_status(), FILE_STATUS_SUCCESS);
  EXPECT_EQ(events.back().event().run_id(), run);
  EXPECT_EQ(all->Header(), "0");
}

TEST_P(WatchModeTest, RunEventsCarryTaskAndBatchAndFilter) {
  WatchServer server(db(), Options(GetParam()));
  Writer w(server.channel());
  AddTask("load");
  AddTask("profit");
  auto all = WatchRuns(server.channel(), RunsAfter(-1));
  WatchRunsRequest by_batch = RunsAfter(-1);
  by_batch.set_batch_id("b1");
  WatchRunsRequest by_task = RunsAfter(-1);
  by_task.set_task("load");
  WatchRunsRequest by_status = RunsAfter(-1);
  by_status.set_status(RUN_STATUS_ERROR);
  auto batch = WatchRuns(server.channel(), by_batch);
  auto task = WatchRuns(server.channel(), by_task);
  auto status = WatchRuns(server.channel(), by_status);

  int64_t load_b1 = w.StartRun("load", "b1");
  int64_t profit_b1 = w.StartRun("profit", "b1");
  int64_t load_b2 = w.StartRun("load", "b2");
  w.Finish(load_b1, RUN_STATUS_SUCCESS);
  w.Finish(profit_b1, RUN_STATUS_ERROR);
  w.Finish(load_b2, RUN_STATUS_SUCCESS);
  WatchRunsRequest by_run = RunsAfter(-1);
  by_run.set_run_id(profit_b1);
  auto run = WatchRuns(server.channel(), by_run);

  ASSERT_TRUE(all->WaitFor(6));
  EXPECT_EQ(all->ids(), Ids("SELECT id FROM run_events"));
  ASSERT_TRUE(batch->WaitFor(4));
  EXPECT_EQ(batch->ids(),
            Ids("SELECT e.id FROM run_events e JOIN task_log r ON r.id = "
                "e.run_id WHERE r.batch_id = 'b1'"));
  ASSERT_TRUE(task->WaitFor(4));
  EXPECT_EQ(task->ids(),
            Ids("SELECT e.id FROM run_events e JOIN task_log r ON r.id = "
                "e.run_id JOIN tasks t ON t.id = r.task_id "
                "WHERE t.name = 'load'"));
  ASSERT_TRUE(status->WaitFor(1));
  ASSERT_TRUE(run->WaitFor(2));
  EXPECT_EQ(run->ids(),
            Ids(absl::StrCat("SELECT id FROM run_events WHERE run_id = ",
                             profit_b1)));
  std::vector<WatchedRunEvent> errors = status->events();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].task_name(), "profit");
  EXPECT_EQ(errors[0].batch_id(), "b1");
  EXPECT_EQ(errors[0].event().run_id(), profit_b1);
  EXPECT_EQ(errors[0].event().kind(), "FINISHED");
  EXPECT_EQ(errors[0].event().to_status(), RUN_STATUS_ERROR);
  EXPECT_EQ(errors[0].event().message(), "boom");
  EXPECT_GT(errors[0].task_id(), 0);
}

TEST_P(WatchModeTest, ZeroStartsAtTheEndAndSaysWhere) {
  WatchServer server(db(), Options(GetParam()));
  Writer w(server.channel());
  w.Register("s", {"1", "2", "3"});
  auto live = WatchFiles(server.channel(), FilesAfter(0));
  EXPECT_EQ(live->Header(), "3");
  std::vector<int64_t> later = w.Register("s", {"4", "5"});
  ASSERT_TRUE(live->WaitFor(2));
  EXPECT_EQ(live->ids(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(live->events()[1].event().file_id(), later[1]);

  auto resumed = WatchFiles(server.channel(), FilesAfter(4));
  EXPECT_EQ(resumed->Header(), "4");
  ASSERT_TRUE(resumed->WaitFor(1));
  EXPECT_EQ(resumed->ids(), std::vector<int64_t>{5});
}

// Event id k is taken by a transaction that stays open while k+1 commits:
// the stream must hold k+1 back until k is settled, then deliver both in
// order. (A reader that only asks for `id > last` would skip k for good.)
TEST_P(WatchModeTest, AnIdCommittedLateIsNotSkipped) {
  WatchServer server(db(), Options(GetParam()));
  Writer w(server.channel());
  int64_t file = w.Register("s", {"early"})[0];
  auto stream = WatchFiles(server.channel(), FilesAfter(0));
  ASSERT_EQ(stream->Header(), "1");

  pqxx::connection conn(url());
  pqxx::work held(conn);
  int64_t k = TakeEventId(held, file);
  w.Register("s", {"late"});  // takes k+1 and commits
  // While k may still commit, k+1 must not be delivered. (Bounded wait for
  // something that must not happen.)
  EXPECT_FALSE(stream->WaitFor(1, absl::Milliseconds(500)));
  held.commit();
  ASSERT_TRUE(stream->WaitFor(2));
  EXPECT_EQ(stream->ids(), (std::vector<int64_t>{k, k + 1}));
}

TEST_P(WatchModeTest, AnIdRolledBackIsPassedWithoutATimeout) {
  WatchServer server(db(), Options(GetParam()));
  Writer w(server.channel());
  int64_t file = w.Register("s", {"early"})[0];
  auto stream = WatchFiles(server.channel(), FilesAfter(0));
  ASSERT_EQ(stream->Header(), "1");

  pqxx::connection conn(url());
  auto held = std::make_unique<pqxx::work>(conn);
  int64_t k = TakeEventId(*held, file);
  w.Register("s", {"late"});
  EXPECT_FALSE(stream->WaitFor(1, absl::Milliseconds(300)));
  held->abort();
  ASSERT_TRUE(stream->WaitFor(1));
  EXPECT_EQ(stream->ids(), std::vector<int64_t>{k + 1});
}

// The promise: a client that reconnects with its last event id
// misses nothing and sees nothing twice, across replicas, while writers
// (and transactions that roll back or commit late) keep going.
TEST_P(WatchModeTest, ResumingMissesNothingAndRepeatsNothing) {
  constexpr int kWriters = 8;
  constexpr int kIterations = 20;
  WatchServer a(db(), Options(GetParam()));
  WatchServer b(OtherDb(), Options(GetParam()));
  WatchServer* servers[] = {&a, &b};
  AddTask("ingest");

  std::atomic<bool> writers_done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      Writer w(servers[t % 2]->channel());
      const std::string source = absl::StrCat("src", t);
      for (int i = 0; i < kIterations; ++i) {
        std::vector<std::string> names;
        for (int n = 0; n < 5; ++n) names.push_back(absl::StrCat(i, "-", n));
        w.Register(source, names);
        int64_t run = w.StartRun("ingest", absl::StrCat("w", t, "-", i));
        std::vector<int64_t> held = w.Claim(run, source, 3);
        if (!held.empty()) w.Complete(held[0], run, FILE_STATUS_ERROR);
        w.Finish(run, i % 3 == 0 ? RUN_STATUS_ERROR : RUN_STATUS_SUCCESS);
      }
    });
  }
  // Transactions that take event ids and commit late or roll back.
  std::atomic<bool> stop_chaos{false};
  std::thread chaos([&] {
    std::mt19937 rng(7);
    pqxx::connection conn(url());
    while (!stop_chaos.load()) {
      pqxx::work tx(conn);
      tx.exec(
          "INSERT INTO file_events (file_id, kind, to_status) "
          "SELECT id, 'NOTE', status FROM files ORDER BY id DESC LIMIT 2");
      absl::SleepFor(absl::Milliseconds(rng() % 20));
      if (rng() % 2) {
        tx.commit();
      } else {
        tx.abort();
      }
    }
  });

  // Readers: short streams, alternating replicas, each resuming after the
  // last id the previous one delivered.
  auto read_all = [&](auto watch, auto request, const std::string& table,
                      std::vector<int64_t>* got) {
    std::mt19937 rng(11);
    int64_t last = -1;
    absl::Time give_up = absl::Now() + absl::Seconds(120);
    for (int round = 0; absl::Now() < give_up; ++round) {
      if (writers_done.load()) {
        size_t total =
            std::stoul(Sql(absl::StrCat("SELECT count(*) FROM ", table)));
        if (got->size() >= total) break;
      }
      request.set_after_event_id(last);
      auto stream = watch(servers[round % 2]->channel(), request);
      stream->WaitFor(1 + rng() % 40, absl::Milliseconds(300));
      stream->Cancel();
      stream->Wait();
      for (int64_t id : stream->ids()) got->push_back(id);
      if (!got->empty()) last = got->back();
    }
  };
  std::vector<int64_t> file_ids, run_ids;
  std::thread file_reader([&] {
    read_all(&WatchFiles, WatchFilesRequest(), "file_events", &file_ids);
  });
  std::thread run_reader([&] {
    read_all(&WatchRuns, WatchRunsRequest(), "run_events", &run_ids);
  });
  for (auto& t : threads) t.join();
  stop_chaos = true;
  chaos.join();
  writers_done = true;
  file_reader.join();
  run_reader.join();

  std::vector<int64_t> want_files = Ids("SELECT id FROM file_events");
  std::vector<int64_t> want_runs = Ids("SELECT id FROM run_events");
  EXPECT_GE(want_files.size(), size_t{kWriters * kIterations * 10});
  EXPECT_EQ(want_runs.size(), size_t{kWriters * kIterations * 2});
  EXPECT_EQ(file_ids, want_files);  // same ids, same order, once each
  EXPECT_EQ(run_ids, want_runs);
}

// A daemon restart ends streams with UNAVAILABLE; resuming on the new
// daemon with the last id continues exactly where the old one stopped.
TEST_P(WatchModeTest, ResumesAcrossARestart) {
  auto server = std::make_unique<WatchServer>(db(), Options(GetParam()));
  Writer w(server->channel());
  w.Register("s", {"1", "2", "3"});
  auto before = WatchFiles(server->channel(), FilesAfter(-1));
  ASSERT_TRUE(before->WaitFor(3));
  server->Stop();
  grpc::Status ended = before->Wait();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE)
      << ended.error_message();
  EXPECT_NE(ended.error_message().find("shutting down"), std::string::npos);
  int64_t last = before->ids().back();

  // Written while no daemon watched, through another replica.
  WatchServer other(OtherDb(), Options(GetParam()));
  Writer(other.channel()).Register("s", {"4", "5"});
  server = std::make_unique<WatchServer>(db(), Options(GetParam()));
  auto after = WatchFiles(server->channel(), FilesAfter(last));
  Writer(server->channel()).Register("s", {"6"});
  ASSERT_TRUE(after->WaitFor(3));
  std::vector<int64_t> all = before->ids();
  for (int64_t id : after->ids()) all.push_back(id);
  EXPECT_EQ(all, Ids("SELECT id FROM file_events"));
}

TEST_P(WatchModeTest, AnEventWrittenThroughOneReplicaReachesAnother) {
  WatchServer a(db(), Options(GetParam()));
  WatchServer b(OtherDb(), Options(GetParam()));
  auto on_b = WatchRuns(b.channel(), RunsAfter(0));
  ASSERT_EQ(on_b->Header(), "0");
  AddTask("load");
  int64_t run = Writer(a.channel()).StartRun("load", "b1");
  ASSERT_TRUE(on_b->WaitFor(1));
  EXPECT_EQ(on_b->events()[0].event().run_id(), run);
  EXPECT_EQ(on_b->events()[0].event().kind(), "STARTED");
}

TEST_P(WatchModeTest, ALargeBacklogArrivesCompleteAndInOrder) {
  WatchServer server(db(), Options(GetParam()));
  Writer w(server.channel());
  for (int chunk = 0; chunk < 3; ++chunk) {
    std::vector<std::string> names;
    for (int i = 0; i < 1000; ++i) names.push_back(absl::StrCat(chunk, "-", i));
    w.Register(chunk == 1 ? "rare" : "common", names);
  }
  auto all = WatchFiles(server.channel(), FilesAfter(-1));
  WatchFilesRequest rare = FilesAfter(-1);
  rare.set_source("rare");
  auto some = WatchFiles(server.channel(), rare);
  ASSERT_TRUE(all->WaitFor(3000));
  ASSERT_TRUE(some->WaitFor(1000));
  std::vector<int64_t> want(3000);
  for (int i = 0; i < 3000; ++i) want[i] = i + 1;
  EXPECT_EQ(all->ids(), want);
  EXPECT_EQ(some->ids(),
            std::vector<int64_t>(want.begin() + 1000, want.begin() + 2000));
}

// Waiting streams hold neither a read thread nor a connection: with one
// read thread, 40 streams all wait and all get the next event.
TEST_P(WatchModeTest, WaitingStreamsHoldNoThread) {
  WatchOptions options = Options(GetParam());
  options.read_threads = 1;
  WatchServer server(db(), options);
  std::vector<std::unique_ptr<FileCollector>> streams;
  for (int i = 0; i < 40; ++i) {
    streams.push_back(WatchFiles(server.channel(), FilesAfter(0)));
  }
  for (auto& s : streams) ASSERT_EQ(s->Header(), "0");
  Writer(server.channel()).Register("s", {"x"});
  for (auto& s : streams) {
    ASSERT_TRUE(s->WaitFor(1));
    EXPECT_EQ(s->ids(), std::vector<int64_t>{1});
  }
  EXPECT_EQ(server.watch().open_streams(), 40);
}

TEST_F(WatchTest, CancelEndsTheStream) {
  WatchServer server(db(), Options(WatchMode::kNotify));
  auto stream = WatchFiles(server.channel(), FilesAfter(0));
  ASSERT_EQ(stream->Header(), "0");
  EXPECT_EQ(server.watch().open_streams(), 1);
  stream->Cancel();
  EXPECT_EQ(stream->Wait().error_code(), grpc::StatusCode::CANCELLED);
  // The server side lets go of it too (OnDone runs shortly after).
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (server.watch().open_streams() != 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(server.watch().open_streams(), 0);
}

// The hint is sent by the daemon after its write committed, not by the
// writing transaction (whose NOTIFY would serialize every writer's commit on
// PostgreSQL's global notify lock).
TEST_F(WatchTest, WritesAreAnnouncedAfterTheyCommitNotInTheirTransaction) {
  EXPECT_EQ(Sql("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND "
                "tgrelid IN ('file_events'::regclass, 'run_events'::regclass)"),
            "0");
  pqxx::connection listener(url());
  struct Counter final : pqxx::notification_receiver {
    explicit Counter(pqxx::connection_base& c)
        : pqxx::notification_receiver(c, "metad_events") {}
    void operator()(const std::string&, int) override { ++count; }
    int count = 0;
  } hints(listener);
  // A transaction that writes events announces nothing by itself.
  Sql("INSERT INTO files (source, file_name) VALUES ('raw', 'r1')");
  Sql("INSERT INTO file_events (file_id, kind, to_status) "
      "SELECT id, 'NOTE', 'NEW' FROM files");
  listener.await_notification(1, 0);
  EXPECT_EQ(hints.count, 0);

  WatchServer server(db(), Options(WatchMode::kNotify));
  Writer(server.channel()).Register("s", {"a.csv"});
  // The daemon's hint follows (bounded wait: it is sent within ~5 ms).
  for (int i = 0; i < 30 && hints.count == 0; ++i) {
    listener.await_notification(1, 0);
  }
  EXPECT_GE(hints.count, 1);
}

TEST_F(WatchTest, ShutdownEndsEveryStreamWithUnavailable) {
  WatchServer server(db(), Options(WatchMode::kNotify));
  auto files = WatchFiles(server.channel(), FilesAfter(0));
  auto runs = WatchRuns(server.channel(), RunsAfter(-1));
  ASSERT_EQ(files->Header(), "0");
  ASSERT_EQ(runs->Header(), "0");
  server.Stop();  // with a 60 s drain: only the streams' own end is quick
  for (grpc::Status s : {files->Wait(), runs->Wait()}) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
        << s.error_message();
  }
}

TEST_F(WatchTest, RefusesMalformedRequestsNamingTheField) {
  WatchServer server(db(), Options(WatchMode::kNotify));
  auto code_and_message = [](auto stream) {
    grpc::Status s = stream->Wait();
    return std::make_pair(s.error_code(), s.error_message());
  };
  struct FileCase {
    WatchFilesRequest request;
    std::string field;
  };
  std::vector<FileCase> file_cases(4);
  file_cases[0].request.set_after_event_id(-2);
  file_cases[0].field = "after_event_id";
  file_cases[1].request.set_status(static_cast<FileStatus>(42));
  file_cases[1].field = "status";
  file_cases[2].request.set_file_id(-1);
  file_cases[2].field = "file_id";
  file_cases[3].request.set_source(std::string("a\0b", 3));
  file_cases[3].field = "source";
  for (const FileCase& c : file_cases) {
    auto [code, message] =
        code_and_message(WatchFiles(server.channel(), c.request));
    EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_EQ(message.rfind(c.field + ":", 0), 0u) << message;
  }
  struct RunCase {
    WatchRunsRequest request;
    std::string field;
  };
  std::vector<RunCase> run_cases(5);
  run_cases[0].request.set_after_event_id(-7);
  run_cases[0].field = "after_event_id";
  run_cases[1].request.set_batch_id(std::string(129, 'b'));
  run_cases[1].field = "batch_id";
  run_cases[2].request.set_task("no spaces allowed");
  run_cases[2].field = "task";
  run_cases[3].request.set_status(static_cast<RunStatus>(-1));
  run_cases[3].field = "status";
  run_cases[4].request.set_run_id(-3);
  run_cases[4].field = "run_id";
  for (const RunCase& c : run_cases) {
    auto [code, message] =
        code_and_message(WatchRuns(server.channel(), c.request));
    EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_EQ(message.rfind(c.field + ":", 0), 0u) << message;
  }
  EXPECT_EQ(server.watch().open_streams(), 0);
}

TEST_F(WatchTest, AsksTheAuthorizer) {
  std::vector<std::string> asked;
  absl::Mutex mu;
  WatchServer server(
      db(), Options(WatchMode::kNotify),
      [&](const grpc::ServerContextBase& context, const char* method) {
        absl::MutexLock lock(&mu);
        asked.push_back(method);
        const auto& md = context.client_metadata();
        if (md.find("authorization") == md.end()) {
          return absl::UnauthenticatedError("no token");
        }
        return absl::PermissionDeniedError(
            absl::StrCat(method, " needs the reader role"));
      });
  EXPECT_EQ(WatchFiles(server.channel(), FilesAfter(0))->Wait().error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto stub = WatchService::NewStub(server.channel());
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer nope");
  auto reader = stub->WatchRuns(&context, RunsAfter(0));
  WatchedRunEvent event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(asked, (std::vector<std::string>{"WatchFiles", "WatchRuns"}));
}

TEST_F(WatchTest, RefusesStreamsBeyondTheLimit) {
  WatchOptions options = Options(WatchMode::kNotify);
  options.max_streams = 2;
  WatchServer server(db(), options);
  auto first = WatchFiles(server.channel(), FilesAfter(0));
  auto second = WatchRuns(server.channel(), RunsAfter(0));
  ASSERT_EQ(first->Header(), "0");
  ASSERT_EQ(second->Header(), "0");
  grpc::Status third = WatchFiles(server.channel(), FilesAfter(0))->Wait();
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  first->Cancel();
  first->Wait();
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (server.watch().open_streams() != 1 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  auto again = WatchFiles(server.channel(), FilesAfter(0));
  EXPECT_EQ(again->Header(), "0");
}

}  // namespace
}  // namespace metad::testing
