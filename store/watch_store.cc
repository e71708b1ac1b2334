#include "store/watch_store.h"

#include <algorithm>
#include <optional>

#include "store/proto_time.h"
#include "common/status_macros.h"

namespace metad::store {
namespace {

using metad::v1::WatchedFileEvent;
using metad::v1::WatchedRunEvent;

// Ids read per horizon step.
constexpr int kHorizonPage = 1000;

// ---- the settled horizon ----

// One snapshot: whether the pending fence ($1, NULL for none) is passed
// (every transaction older than it has ended), the largest visible id, and
// the visible ids after the settled horizon ($2), at most $3. At least one
// row; id is NULL when there are none.
constexpr Query kFileHorizon{"watch.file_horizon", R"sql(
WITH s AS (
  SELECT coalesce(pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8, false)
           AS fence_passed,
         (SELECT coalesce(max(id), 0) FROM file_events) AS last_id
)
SELECT s.fence_passed, s.last_id, e.id
FROM s LEFT JOIN LATERAL (
  SELECT id FROM file_events WHERE id > $2 ORDER BY id LIMIT $3
) e ON true
ORDER BY e.id
)sql"};
constexpr Query kRunHorizon{"watch.run_horizon", R"sql(
WITH s AS (
  SELECT coalesce(pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8, false)
           AS fence_passed,
         (SELECT coalesce(max(id), 0) FROM run_events) AS last_id
)
SELECT s.fence_passed, s.last_id, e.id
FROM s LEFT JOIN LATERAL (
  SELECT id FROM run_events WHERE id > $2 ORDER BY id LIMIT $3
) e ON true
ORDER BY e.id
)sql"};

// Gives this transaction its xid: taken after the snapshot above, so it is
// younger than every transaction that may hold an id that snapshot missed.
constexpr Query kTakeFence{"watch.take_fence",
                           "SELECT pg_current_xact_id()::text"};

constexpr Query kFileLastId{"watch.file_last_id",
                            "SELECT coalesce(max(id), 0) FROM file_events"};
constexpr Query kRunLastId{"watch.run_last_id",
                           "SELECT coalesce(max(id), 0) FROM run_events"};

// ---- the events of one stream ----
// Variants by the most selective filter, so each plan uses its index.

#define METAD_WATCH_FILE_COLUMNS                                         \
  "e.id, e.file_id, e.kind, coalesce(e.from_status, ''), e.to_status, "  \
  "coalesce(e.run_id, 0), e.message, metad_us(e.event_time), f.source, " \
  "f.file_name"

constexpr Query kPrunedThrough{
    "watch.pruned_through",
    "SELECT pruned_through FROM retention_state WHERE table_name = $1"};
constexpr Query kFileEvents{"watch.file_events", R"sql(
SELECT )sql" METAD_WATCH_FILE_COLUMNS R"sql(
FROM file_events e JOIN files f ON f.id = e.file_id
WHERE e.id > $1 AND e.id <= $2
  AND ($3 = '' OR f.source = $3)
  AND ($4 = '' OR e.to_status = $4)
ORDER BY e.id
LIMIT $5
)sql"};
constexpr Query kFileEventsOfFile{"watch.file_events_of_file", R"sql(
SELECT )sql" METAD_WATCH_FILE_COLUMNS R"sql(
FROM file_events e JOIN files f ON f.id = e.file_id
WHERE e.file_id = $6 AND e.id > $1 AND e.id <= $2
  AND ($3 = '' OR f.source = $3)
  AND ($4 = '' OR e.to_status = $4)
ORDER BY e.id
LIMIT $5
)sql"};

#define METAD_WATCH_RUN_COLUMNS                                        \
  "e.id, e.run_id, e.kind, coalesce(e.from_status, ''), e.to_status, " \
  "e.message, metad_us(e.event_time), r.task_id, t.name, r.batch_id"

constexpr Query kRunEvents{"watch.run_events", R"sql(
SELECT )sql" METAD_WATCH_RUN_COLUMNS R"sql(
FROM run_events e
JOIN task_log r ON r.id = e.run_id
JOIN tasks t ON t.id = r.task_id
WHERE e.id > $1 AND e.id <= $2
  AND ($3 = '' OR r.batch_id = $3)
  AND ($4 = '' OR t.name = $4)
  AND ($5 = '' OR e.to_status = $5)
ORDER BY e.id
LIMIT $6
)sql"};
constexpr Query kRunEventsOfRun{"watch.run_events_of_run", R"sql(
SELECT )sql" METAD_WATCH_RUN_COLUMNS R"sql(
FROM run_events e
JOIN task_log r ON r.id = e.run_id
JOIN tasks t ON t.id = r.task_id
WHERE e.run_id = $7 AND e.id > $1 AND e.id <= $2
  AND ($3 = '' OR r.batch_id = $3)
  AND ($4 = '' OR t.name = $4)
  AND ($5 = '' OR e.to_status = $5)
ORDER BY e.id
LIMIT $6
)sql"};

#undef METAD_WATCH_FILE_COLUMNS
#undef METAD_WATCH_RUN_COLUMNS

metad::v1::FileStatus FileStatusOf(const std::string& text) {
  metad::v1::FileStatus status = metad::v1::FILE_STATUS_UNSPECIFIED;
  if (!text.empty())
    metad::v1::FileStatus_Parse("FILE_STATUS_" + text, &status);
  return status;
}

metad::v1::RunStatus RunStatusOf(const std::string& text) {
  metad::v1::RunStatus status = metad::v1::RUN_STATUS_UNSPECIFIED;
  if (!text.empty()) metad::v1::RunStatus_Parse("RUN_STATUS_" + text, &status);
  return status;
}

}  // namespace

const char* EventTableName(EventTable table) {
  return table == EventTable::kFileEvents ? "file_events" : "run_events";
}

WatchStore::WatchStore(Database* db) : db_(db) {}

absl::StatusOr<bool> WatchStore::AdvanceHorizon(EventTable table,
                                                const TxOptions& options,
                                                Horizon* horizon) {
  const Query& query =
      table == EventTable::kFileEvents ? kFileHorizon : kRunHorizon;
  Horizon next;
  bool more = false;
  RETURN_IF_ERROR(
      db_->Transact("watch.horizon", options, [&](Tx& tx) -> absl::Status {
        next = *horizon;
        std::optional<std::string> fence;
        if (!next.fence.empty()) fence = next.fence;
        // While a fence is pending far ahead, walking ids one page at a time
        // is pointless: passing the fence will jump there.
        int limit = fence && next.candidate - next.settled > kHorizonPage
                        ? 0
                        : kHorizonPage;
        pqxx::result r = Exec(tx, query, fence, next.settled, limit);
        bool fence_passed = r[0][0].as<bool>();
        int64_t last_id = r[0][1].as<int64_t>();
        if (fence && fence_passed) {
          next.settled = std::max(next.settled, next.candidate);
          next.fence.clear();
        }
        int walked = 0;
        for (const auto& row : r) {
          if (row[2].is_null()) break;
          ++walked;
          int64_t id = row[2].as<int64_t>();
          if (id <= next.settled) continue;
          if (id != next.settled + 1) break;  // a hole: not settled yet
          next.settled = id;
        }
        if (!next.fence.empty() && next.candidate <= next.settled) {
          next.fence.clear();  // the prefix caught up by itself
        }
        if (next.fence.empty() && last_id > next.settled) {
          next.candidate = last_id;
          next.fence = Exec(tx, kTakeFence)[0][0].as<std::string>();
        }
        more = walked == limit && limit > 0 &&
               next.settled == r.back()[2].as<int64_t>();
        return absl::OkStatus();
      }));
  *horizon = next;
  return more;
}

constexpr Query kAsyncCommit{
    "watch.async_commit",
    "SELECT set_config('synchronous_commit', 'off', true)"};
constexpr Query kNotify{"watch.notify", "SELECT pg_notify($1, '')"};

absl::Status WatchStore::Notify(const TxOptions& options) {
  return db_->Transact("watch.notify", options, [&](Tx& tx) -> absl::Status {
    Exec(tx, kAsyncCommit);
    Exec(tx, kNotify, kEventChannel);
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> WatchStore::LastEventId(EventTable table,
                                                const TxOptions& options) {
  int64_t last = 0;
  RETURN_IF_ERROR(
      db_->Transact("watch.last_id", options, [&](Tx& tx) -> absl::Status {
        last = Exec(tx, table == EventTable::kFileEvents ? kFileLastId
                                                         : kRunLastId)[0][0]
                   .as<int64_t>();
        return absl::OkStatus();
      }));
  return last;
}

absl::StatusOr<std::vector<WatchedFileEvent>> WatchStore::ReadFileEvents(
    const TxOptions& options, const FileEventFilter& filter, int64_t after_id,
    int64_t upto_id, int limit) {
  std::vector<WatchedFileEvent> events;
  RETURN_IF_ERROR(
      db_->Transact("watch.file_events", options, [&](Tx& tx) -> absl::Status {
        events.clear();
        pqxx::result r =
            filter.file_id != 0
                ? Exec(tx, kFileEventsOfFile, after_id, upto_id, filter.source,
                       filter.to_status, limit, filter.file_id)
                : Exec(tx, kFileEvents, after_id, upto_id, filter.source,
                       filter.to_status, limit);
        events.reserve(r.size());
        for (const auto& row : r) {
          WatchedFileEvent& out = events.emplace_back();
          metad::v1::FileEvent* e = out.mutable_event();
          e->set_id(row[0].as<int64_t>());
          e->set_file_id(row[1].as<int64_t>());
          e->set_kind(row[2].as<std::string>());
          e->set_from_status(FileStatusOf(row[3].as<std::string>()));
          e->set_to_status(FileStatusOf(row[4].as<std::string>()));
          e->set_run_id(row[5].as<int64_t>());
          e->set_message(row[6].as<std::string>());
          ReadTime(row[7], e->mutable_event_time());
          out.set_source(row[8].as<std::string>());
          out.set_file_name(row[9].as<std::string>());
        }
        return absl::OkStatus();
      }));
  return events;
}

absl::StatusOr<std::vector<WatchedRunEvent>> WatchStore::ReadRunEvents(
    const TxOptions& options, const RunEventFilter& filter, int64_t after_id,
    int64_t upto_id, int limit) {
  std::vector<WatchedRunEvent> events;
  RETURN_IF_ERROR(
      db_->Transact("watch.run_events", options, [&](Tx& tx) -> absl::Status {
        events.clear();
        pqxx::result r =
            filter.run_id != 0
                ? Exec(tx, kRunEventsOfRun, after_id, upto_id, filter.batch_id,
                       filter.task_name, filter.to_status, limit, filter.run_id)
                : Exec(tx, kRunEvents, after_id, upto_id, filter.batch_id,
                       filter.task_name, filter.to_status, limit);
        events.reserve(r.size());
        for (const auto& row : r) {
          WatchedRunEvent& out = events.emplace_back();
          metad::v1::RunEvent* e = out.mutable_event();
          e->set_id(row[0].as<int64_t>());
          e->set_run_id(row[1].as<int64_t>());
          e->set_kind(row[2].as<std::string>());
          e->set_from_status(RunStatusOf(row[3].as<std::string>()));
          e->set_to_status(RunStatusOf(row[4].as<std::string>()));
          e->set_message(row[5].as<std::string>());
          ReadTime(row[6], e->mutable_event_time());
          out.set_task_id(row[7].as<int64_t>());
          out.set_task_name(row[8].as<std::string>());
          out.set_batch_id(row[9].as<std::string>());
        }
        return absl::OkStatus();
      }));
  return events;
}

absl::StatusOr<int64_t> WatchStore::PrunedThrough(EventTable table,
                                                  const TxOptions& options) {
  int64_t through = 0;
  absl::Status status =
      db_->Transact("watch.pruned_through", options, [&](Tx& tx) {
        pqxx::result r = Exec(tx, kPrunedThrough, EventTableName(table));
        through = r.empty() ? 0 : r[0][0].as<int64_t>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return through;
}

}  // namespace metad::store
