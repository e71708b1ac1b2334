#include "store/watch_store.h"

#include <algorithm>
#include <optional>

#include "common/status_macros.h"
#include "store/file_store.h"
#include "store/queries/watch.sql.h"
#include "store/run_store.h"

namespace metad::store {
namespace {

using metad::v1::WatchedFileEvent;
using metad::v1::WatchedRunEvent;

// Ids read per horizon step.
constexpr int kHorizonPage = 1000;

}  // namespace

const char* EventTableName(EventTable table) {
  return table == EventTable::kFileEvents ? "file_events" : "run_events";
}

WatchStore::WatchStore(Database* db) : db_(db) {}

absl::StatusOr<bool> WatchStore::AdvanceHorizon(EventTable table,
                                                const TxOptions& options,
                                                Horizon* horizon) {
  const Query& query = table == EventTable::kFileEvents ? sql::kWatchFileHorizon
                                                        : sql::kWatchRunHorizon;
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
        Exec(tx, sql::kWatchForceGenericPlan);
        pqxx::result r = Exec(tx, query, fence, next.settled, limit);
        bool fence_passed = r[0]["fence_passed"].as<bool>();
        int64_t last_id = r[0]["last_id"].as<int64_t>();
        if (fence && fence_passed) {
          next.settled = std::max(next.settled, next.candidate);
          next.fence.clear();
        }
        const pqxx::row_size_type id_column = r.column_number("id");
        int walked = 0;
        for (const auto& row : r) {
          if (row[id_column].is_null()) break;
          ++walked;
          int64_t id = row[id_column].as<int64_t>();
          if (id <= next.settled) continue;
          if (id != next.settled + 1) break;  // a hole: not settled yet
          next.settled = id;
        }
        if (!next.fence.empty() && next.candidate <= next.settled) {
          next.fence.clear();  // the prefix caught up by itself
        }
        if (next.fence.empty() && last_id > next.settled) {
          next.candidate = last_id;
          next.fence =
              Exec(tx, sql::kWatchTakeFence)[0]["fence"].as<std::string>();
        }
        more = walked == limit && limit > 0 &&
               next.settled == r.back()[id_column].as<int64_t>();
        return absl::OkStatus();
      }));
  *horizon = next;
  return more;
}

absl::Status WatchStore::Notify(const TxOptions& options) {
  return db_->Transact("watch.notify", options, [&](Tx& tx) -> absl::Status {
    Exec(tx, sql::kWatchAsyncCommit);
    Exec(tx, sql::kWatchNotify, kEventChannel);
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> WatchStore::LastEventId(EventTable table,
                                                const TxOptions& options) {
  int64_t last = 0;
  RETURN_IF_ERROR(
      db_->Transact("watch.last_id", options, [&](Tx& tx) -> absl::Status {
        last = Exec(tx, table == EventTable::kFileEvents
                            ? sql::kWatchFileLastId
                            : sql::kWatchRunLastId)[0]["last_id"]
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
        const MapMatchParams attributes = MapMatch(filter.attributes);
        pqxx::result r;
        if (filter.file_id != 0) {
          r = Exec(tx, sql::kWatchFileEventsOfFile, after_id, upto_id,
                   filter.source, filter.to_status, limit, filter.file_id,
                   attributes.contains, attributes.has_keys);
        } else if (filter.source.empty() && filter.to_status.empty() &&
                   filter.attributes.empty()) {
          Exec(tx, sql::kWatchForceGenericPlan);
          r = Exec(tx, sql::kWatchFileEventsUnfiltered, after_id, upto_id,
                   limit);
        } else {
          r = Exec(tx, sql::kWatchFileEvents, after_id, upto_id, filter.source,
                   filter.to_status, limit, attributes.contains,
                   attributes.has_keys);
        }
        events.reserve(r.size());
        const FileEventColumns columns(r);
        const pqxx::row_size_type source = r.column_number("source");
        const pqxx::row_size_type file_name = r.column_number("file_name");
        for (const auto& row : r) {
          WatchedFileEvent& out = events.emplace_back();
          ReadFileEvent(row, columns, out.mutable_event());
          out.set_source(row[source].as<std::string>());
          out.set_file_name(row[file_name].as<std::string>());
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
        const MapMatchParams labels = MapMatch(filter.labels);
        pqxx::result r;
        if (filter.run_id != 0) {
          r = Exec(tx, sql::kWatchRunEventsOfRun, after_id, upto_id,
                   filter.batch_id, filter.task_name, filter.to_status, limit,
                   filter.run_id, labels.contains, labels.has_keys);
        } else if (filter.batch_id.empty() && filter.task_name.empty() &&
                   filter.to_status.empty() && filter.labels.empty()) {
          Exec(tx, sql::kWatchForceGenericPlan);
          r = Exec(tx, sql::kWatchRunEventsUnfiltered, after_id, upto_id,
                   limit);
        } else {
          r = Exec(tx, sql::kWatchRunEvents, after_id, upto_id, filter.batch_id,
                   filter.task_name, filter.to_status, limit, labels.contains,
                   labels.has_keys);
        }
        events.reserve(r.size());
        const RunEventColumns columns(r);
        const pqxx::row_size_type task_id = r.column_number("task_id");
        const pqxx::row_size_type task_name = r.column_number("task_name");
        const pqxx::row_size_type batch_id = r.column_number("batch_id");
        for (const auto& row : r) {
          WatchedRunEvent& out = events.emplace_back();
          ReadRunEvent(row, columns, out.mutable_event());
          out.set_task_id(row[task_id].as<int64_t>());
          out.set_task_name(row[task_name].as<std::string>());
          out.set_batch_id(row[batch_id].as<std::string>());
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
        pqxx::result r =
            Exec(tx, sql::kWatchPrunedThrough, EventTableName(table));
        through = r.empty() ? 0 : r[0]["pruned_through"].as<int64_t>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return through;
}

}  // namespace metad::store
