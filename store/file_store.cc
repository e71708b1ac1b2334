#include "store/file_store.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "store/proto_time.h"
#include "store/sql.h"
#include "common/status_macros.h"

namespace metad::store {
namespace {

using metad::v1::File;
using metad::v1::FileEvent;
using metad::v1::FileSpec;
using metad::v1::FileStatus;

// The columns every statement that returns files selects, in the order
// ReadFile reads them. A compile-time literal, so each Query stays one
// constant string.
#define METAD_FILE_COLUMNS                                           \
  "id, source, file_name, status, checksum, size_bytes, row_count, " \
  "attributes::text AS attributes, run_id, error_message, "          \
  "metad_us(create_time) AS create_us, metad_us(update_time) AS update_us "

#define METAD_FILE_EVENT_COLUMNS                                 \
  "id, file_id, kind, from_status, to_status, run_id, message, " \
  "metad_us(event_time) AS event_us "

// Attributes travel as a JSON object of strings (files.attributes jsonb).
// Built and parsed by protobuf's JSON support, never by hand.
std::string AttributesJson(
    const google::protobuf::Map<std::string, std::string>& attributes) {
  if (attributes.empty()) return "{}";
  google::protobuf::Struct object;
  for (const auto& [key, value] : attributes) {
    (*object.mutable_fields())[key].set_string_value(value);
  }
  std::string json;
  // Cannot fail for a Struct of strings of valid UTF-8 (validated upstream).
  if (!google::protobuf::util::MessageToJsonString(object, &json).ok()) {
    return "{}";
  }
  return json;
}

absl::Status ReadAttributes(
    const pqxx::field& field,
    google::protobuf::Map<std::string, std::string>* out) {
  if (field.is_null()) return absl::OkStatus();
  google::protobuf::Struct object;
  if (!google::protobuf::util::JsonStringToMessage(field.c_str(), &object)
           .ok()) {
    return absl::InternalError("a stored file has unreadable attributes");
  }
  for (const auto& [key, value] : object.fields()) {
    if (value.kind_case() == google::protobuf::Value::kStringValue) {
      (*out)[key] = value.string_value();
    } else {
      // Only a hand-edited row holds anything but strings: show it as JSON.
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(value, &json);
      (*out)[key] = json;
    }
  }
  return absl::OkStatus();
}

int64_t OrUnknown(const pqxx::field& field) {
  return field.is_null() ? -1 : field.as<int64_t>();
}

int64_t OrZero(const pqxx::field& field) {
  return field.is_null() ? 0 : field.as<int64_t>();
}

// Reads a row of METAD_FILE_COLUMNS.
absl::StatusOr<File> ReadFile(const pqxx::row& row) {
  File file;
  file.set_id(row[0].as<int64_t>());
  file.set_source(row[1].c_str());
  file.set_file_name(row[2].c_str());
  file.set_status(FileStatusFromText(row[3].c_str()));
  file.set_checksum(row[4].c_str());
  file.set_size_bytes(OrUnknown(row[5]));
  file.set_row_count(OrUnknown(row[6]));
  RETURN_IF_ERROR(ReadAttributes(row[7], file.mutable_attributes()));
  file.set_run_id(OrZero(row[8]));
  file.set_error_message(row[9].c_str());
  ReadTime(row[10], file.mutable_create_time());
  ReadTime(row[11], file.mutable_update_time());
  return file;
}

absl::StatusOr<std::vector<File>> ReadFiles(const pqxx::result& result) {
  std::vector<File> files;
  files.reserve(result.size());
  for (const auto& row : result) {
    ASSIGN_OR_RETURN(File file, ReadFile(row));
    files.push_back(std::move(file));
  }
  return files;
}

// Reads a row of METAD_FILE_EVENT_COLUMNS.
FileEvent ReadFileEvent(const pqxx::row& row) {
  FileEvent event;
  event.set_id(row[0].as<int64_t>());
  event.set_file_id(row[1].as<int64_t>());
  event.set_kind(row[2].c_str());
  if (!row[3].is_null()) {
    event.set_from_status(FileStatusFromText(row[3].c_str()));
  }
  event.set_to_status(FileStatusFromText(row[4].c_str()));
  event.set_run_id(OrZero(row[5]));
  event.set_message(row[6].c_str());
  ReadTime(row[7], event.mutable_event_time());
  return event;
}

// ---- run liveness (ClaimFiles, CompleteFile) ----

// FOR SHARE: the run cannot end or expire (those UPDATE the row) until this
// transaction commits, and a concurrent end is seen before deciding.
constexpr Query kLockRun{"file.lock_run", R"sql(
SELECT status, metad_run_live(status, lease_expire_time) AS live,
       metad_us(lease_expire_time) AS lease_us, error_message
FROM task_log WHERE id = $1 FOR SHARE
)sql"};

// OK when run `run_id` is PROCESSING with a lease in the future (database
// clock); NOT_FOUND or FAILED_PRECONDITION naming the reason otherwise.
absl::Status LockLiveRun(Tx& tx, int64_t run_id, absl::string_view action) {
  pqxx::result r = Exec(tx, kLockRun, run_id);
  if (r.empty()) {
    return NotFoundResourceError(resource::kRun, absl::StrCat(run_id),
                                 absl::StrCat("run ", run_id, ": no such run"));
  }
  const std::string status = r[0][0].c_str();
  if (status != "PROCESSING") {
    std::string why = r[0][3].c_str();
    return RunEndedError(
        run_id, status,
        absl::StrCat("run ", run_id, ": has ended as ", status,
                     why.empty() ? "" : absl::StrCat(" (", why, ")"),
                     "; only a live run can ", action, "; start a new run"));
  }
  if (!r[0][1].as<bool>()) {
    google::protobuf::Timestamp expired;
    ReadTime(r[0][2], &expired);
    return LeaseExpiredError(
        run_id,
        absl::StrCat("run ", run_id, ": lease expired at ",
                     google::protobuf::util::TimeUtil::ToString(expired),
                     "; only a live run can ", action, "; start a new run"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* FileStatusText(FileStatus status) {
  switch (status) {
    case metad::v1::FILE_STATUS_NEW:
      return "NEW";
    case metad::v1::FILE_STATUS_PROCESSING:
      return "PROCESSING";
    case metad::v1::FILE_STATUS_SUCCESS:
      return "SUCCESS";
    case metad::v1::FILE_STATUS_ERROR:
      return "ERROR";
    default:
      return "";
  }
}

FileStatus FileStatusFromText(absl::string_view text) {
  if (text == "NEW") return metad::v1::FILE_STATUS_NEW;
  if (text == "PROCESSING") return metad::v1::FILE_STATUS_PROCESSING;
  if (text == "SUCCESS") return metad::v1::FILE_STATUS_SUCCESS;
  if (text == "ERROR") return metad::v1::FILE_STATUS_ERROR;
  return metad::v1::FILE_STATUS_UNSPECIFIED;
}

FileStore::FileStore(Database* db) : db_(db) {}

// ---- RegisterFile(s) ----

// One statement for the whole batch: the database dedupes (ON CONFLICT on
// files_source_file_name), so concurrent registrants cannot both create a
// file. DISTINCT ON keeps the first occurrence of a name repeated within the
// request; rows go in in (source, file_name) order so that two overlapping
// batches lock names in the same order and never deadlock.
constexpr Query kRegisterInsert{"file.register_insert", R"sql(
WITH input AS (
  SELECT DISTINCT ON (source, file_name) *
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
              $6::text[], $7::text[]) WITH ORDINALITY
       AS u(source, file_name, checksum, size_bytes, row_count, attributes,
            request_id, ord)
  ORDER BY source, file_name, ord
), inserted AS (
  INSERT INTO files (source, file_name, checksum, size_bytes, row_count,
                     attributes, request_id)
  SELECT source, file_name, checksum, NULLIF(size_bytes, 0),
         NULLIF(row_count, 0), attributes::jsonb, NULLIF(request_id, '')
  FROM input
  ORDER BY source, file_name
  ON CONFLICT ON CONSTRAINT files_source_file_name DO NOTHING
  RETURNING id
), events AS (
  INSERT INTO file_events (file_id, kind, to_status)
  SELECT id, 'REGISTERED', 'NEW' FROM inserted
)
SELECT id FROM inserted
)sql"};

// A separate statement (a fresh READ COMMITTED snapshot) so that rows a
// concurrent registrant committed while the insert waited on it are seen.
constexpr Query kRegisterRead{"file.register_read",
                              R"sql(
SELECT )sql" METAD_FILE_COLUMNS R"sql(
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY
     AS u(u_source, u_file_name, u_ord)
JOIN files ON source = u_source AND file_name = u_file_name
ORDER BY u_ord
)sql"};

absl::StatusOr<std::vector<RegisteredFile>> FileStore::Register(
    const TxOptions& options, const std::vector<const FileSpec*>& specs,
    const std::string& request_id) {
  return Register(options, specs,
                  std::vector<std::string>(specs.size(), request_id));
}

absl::StatusOr<std::vector<RegisteredFile>> FileStore::Register(
    const TxOptions& options, const std::vector<const FileSpec*>& specs,
    const std::vector<std::string>& request_ids) {
  std::vector<std::string> sources, names, checksums, attributes;
  std::vector<int64_t> sizes, row_counts;
  for (const FileSpec* spec : specs) {
    sources.push_back(spec->source());
    names.push_back(spec->file_name());
    checksums.push_back(spec->checksum());
    sizes.push_back(spec->size_bytes());
    row_counts.push_back(spec->row_count());
    attributes.push_back(AttributesJson(spec->attributes()));
  }
  const std::string sources_literal = TextArrayLiteral(sources);
  const std::string names_literal = TextArrayLiteral(names);
  std::vector<RegisteredFile> results;
  RETURN_IF_ERROR(
      db_->Transact("file.register", options, [&](Tx& tx) -> absl::Status {
        results.clear();
        pqxx::result inserted =
            Exec(tx, kRegisterInsert, sources_literal, names_literal,
                 TextArrayLiteral(checksums), IntArrayLiteral(sizes),
                 IntArrayLiteral(row_counts), TextArrayLiteral(attributes),
                 TextArrayLiteral(request_ids));
        absl::flat_hash_set<int64_t> created;
        for (const auto& row : inserted) created.insert(row[0].as<int64_t>());
        pqxx::result stored =
            Exec(tx, kRegisterRead, sources_literal, names_literal);
        if (stored.size() != specs.size()) {
          // Only an explicit delete between the two statements can do this.
          return absl::AbortedError(
              "a file changed while it was being registered; retry");
        }
        for (const auto& row : stored) {
          ASSIGN_OR_RETURN(File file, ReadFile(row));
          // erase: a name repeated in the request is created once, first.
          bool is_new = created.erase(file.id()) > 0;
          results.push_back(RegisteredFile{std::move(file), is_new});
        }
        return absl::OkStatus();
      }));
  return results;
}

// ---- GetFile ----

constexpr Query kGetById{"file.get_by_id", R"sql(
SELECT )sql" METAD_FILE_COLUMNS R"sql( FROM files WHERE id = $1
)sql"};

constexpr Query kGetByName{"file.get_by_name", R"sql(
SELECT )sql" METAD_FILE_COLUMNS R"sql(
FROM files WHERE source = $1 AND file_name = $2
)sql"};

absl::StatusOr<File> FileStore::Get(const TxOptions& options, int64_t id) {
  File file;
  RETURN_IF_ERROR(
      db_->Transact("file.get", options, [&](Tx& tx) -> absl::Status {
        pqxx::result r = Exec(tx, kGetById, id);
        if (r.empty()) {
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(id),
              absl::StrCat("file ", id, ": no such file"));
        }
        ASSIGN_OR_RETURN(file, ReadFile(r[0]));
        return absl::OkStatus();
      }));
  return file;
}

absl::StatusOr<File> FileStore::GetByName(const TxOptions& options,
                                          const std::string& source,
                                          const std::string& file_name) {
  File file;
  RETURN_IF_ERROR(
      db_->Transact("file.get_by_name", options, [&](Tx& tx) -> absl::Status {
        pqxx::result r = Exec(tx, kGetByName, source, file_name);
        if (r.empty()) {
          // Names can be long: say which one without echoing 1 KiB.
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(source, "/", file_name),
              "no file with that source and file_name is registered");
        }
        ASSIGN_OR_RETURN(file, ReadFile(r[0]));
        return absl::OkStatus();
      }));
  return file;
}

// ---- ListFiles ----

// One statement for every combination of filters. Planned per call with the
// actual values (force_custom_plan, below), the "$n IS NULL OR ..." terms
// fold away and the planner picks the index that fits the filters given:
// files_status, files_run, files_create_time or the primary key. Keyset
// paging (id > last ORDER BY id) keeps deep pages as cheap as the first.
constexpr Query kForceCustomPlan{
    "file.force_custom_plan",
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"};

constexpr Query kList{"file.list", R"sql(
SELECT )sql" METAD_FILE_COLUMNS R"sql(
FROM files
WHERE id > $1
  AND ($2::text IS NULL OR status = $2::text)
  AND ($3::text IS NULL OR source = $3::text)
  AND ($4::bigint IS NULL OR run_id = $4::bigint)
  AND ($5::bigint IS NULL OR create_time >= metad_ts($5::bigint))
  AND ($6::bigint IS NULL OR create_time < metad_ts($6::bigint))
ORDER BY id
LIMIT $7
)sql"};

absl::StatusOr<std::vector<File>> FileStore::List(const TxOptions& options,
                                                  const FileFilter& filter,
                                                  int64_t after_id, int limit) {
  std::optional<std::string> status;
  if (filter.status) status = FileStatusText(*filter.status);
  std::vector<File> files;
  RETURN_IF_ERROR(
      db_->Transact("file.list", options, [&](Tx& tx) -> absl::Status {
        Exec(tx, kForceCustomPlan);
        ASSIGN_OR_RETURN(
            files, ReadFiles(Exec(tx, kList, after_id, status, filter.source,
                                  filter.run_id, filter.created_after_us,
                                  filter.created_before_us, limit)));
        return absl::OkStatus();
      }));
  return files;
}

// ---- ClaimFiles ----

// Two statements so each matches its partial index (files_new,
// files_new_by_source) in a generic plan. SKIP LOCKED: concurrent claimers
// take different files instead of queueing on the same ones.
//
// The source filter is written as `source >= $3 AND source <= $3 ORDER BY
// source, id` (the same rows as `source = $3` under the deterministic
// collation): with `=` the planner drops `source` from the sort order and,
// costing files_new's heap order as cheaper, walks every NEW file filtering
// on source (measured: 580 ms per claim for a source with no NEW files among
// 60k NEW ones, 0.5 ms with files_new_by_source).
//
// The two differ only in `picked`; the rest (re-check NEW, move to
// PROCESSING, one CLAIMED event per file) must stay identical.
constexpr Query kClaimAny{"file.claim_any", R"sql(
WITH picked AS (
  SELECT id AS picked_id FROM files
  WHERE status = 'NEW'
  ORDER BY id LIMIT $2
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE files
  SET status = 'PROCESSING', run_id = $1, error_message = '',
      update_time = now()
  FROM picked
  WHERE id = picked_id AND status = 'NEW'
  RETURNING )sql" METAD_FILE_COLUMNS R"sql(
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', $1 FROM claimed
)
SELECT * FROM claimed ORDER BY id
)sql"};

constexpr Query kClaimFromSource{"file.claim_from_source", R"sql(
WITH picked AS (
  SELECT id AS picked_id FROM files
  WHERE status = 'NEW' AND source >= $3 AND source <= $3
  ORDER BY source, id LIMIT $2
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE files
  SET status = 'PROCESSING', run_id = $1, error_message = '',
      update_time = now()
  FROM picked
  WHERE id = picked_id AND status = 'NEW'
  RETURNING )sql" METAD_FILE_COLUMNS R"sql(
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', $1 FROM claimed
)
SELECT * FROM claimed ORDER BY id
)sql"};

absl::StatusOr<std::vector<File>> FileStore::Claim(const TxOptions& options,
                                                   int64_t run_id,
                                                   const std::string& source,
                                                   int limit) {
  std::vector<File> files;
  RETURN_IF_ERROR(
      db_->Transact("file.claim", options, [&](Tx& tx) -> absl::Status {
        RETURN_IF_ERROR(LockLiveRun(tx, run_id, "claim files"));
        pqxx::result r =
            source.empty() ? Exec(tx, kClaimAny, run_id, limit)
                           : Exec(tx, kClaimFromSource, run_id, limit, source);
        ASSIGN_OR_RETURN(files, ReadFiles(r));
        return absl::OkStatus();
      }));
  return files;
}

// ---- CompleteFile ----

// Fenced: only a file PROCESSING under this run changes.
constexpr Query kComplete{"file.complete", R"sql(
WITH done AS (
  UPDATE files
  SET status = $3, error_message = $4, update_time = now()
  WHERE id = $1 AND status = 'PROCESSING' AND run_id = $2
  RETURNING )sql" METAD_FILE_COLUMNS R"sql(
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id,
                           message)
  SELECT id, 'COMPLETED', 'PROCESSING', status, $2, error_message FROM done
)
SELECT * FROM done
)sql"};

// Why a fenced update matched nothing.
constexpr Query kFileState{"file.state", R"sql(
SELECT status, run_id FROM files WHERE id = $1
)sql"};

absl::StatusOr<File> FileStore::Complete(const TxOptions& options,
                                         int64_t file_id, int64_t run_id,
                                         FileStatus status,
                                         const std::string& error_message) {
  File file;
  RETURN_IF_ERROR(
      db_->Transact("file.complete", options, [&](Tx& tx) -> absl::Status {
        pqxx::result state = Exec(tx, kFileState, file_id);
        if (state.empty()) {
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(file_id),
              absl::StrCat("file ", file_id, ": no such file"));
        }
        RETURN_IF_ERROR(LockLiveRun(tx, run_id, "complete files"));
        pqxx::result r = Exec(tx, kComplete, file_id, run_id,
                              FileStatusText(status), error_message);
        if (!r.empty()) {
          ASSIGN_OR_RETURN(file, ReadFile(r[0]));
          return absl::OkStatus();
        }
        // The update is fenced; its row lock makes this read current.
        state = Exec(tx, kFileState, file_id);
        const std::string current = state[0][0].c_str();
        if (current != "PROCESSING") {
          return WithErrorInfo(
              absl::FailedPreconditionError(absl::StrCat(
                  "file ", file_id, ": is ", current,
                  ", not PROCESSING; only a file claimed by the run can be "
                  "completed")),
              reason::kFileNotHeld,
              {{"file_id", absl::StrCat(file_id)},
               {"run_id", absl::StrCat(run_id)},
               {"status", current}});
        }
        return WithErrorInfo(
            absl::FailedPreconditionError(
                absl::StrCat("file ", file_id, ": is held by run ",
                             OrZero(state[0][1]), ", not run ", run_id)),
            reason::kFileNotHeld,
            {{"file_id", absl::StrCat(file_id)},
             {"run_id", absl::StrCat(run_id)},
             {"status", "PROCESSING"},
             {"holder_run_id", absl::StrCat(OrZero(state[0][1]))}});
      }));
  return file;
}

// ---- ResetFile ----

constexpr Query kReset{"file.reset", R"sql(
WITH reset AS (
  UPDATE files
  SET status = 'NEW', run_id = NULL, error_message = '', update_time = now()
  WHERE id = $1 AND status = 'ERROR'
  RETURNING )sql" METAD_FILE_COLUMNS R"sql(
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, message)
  SELECT id, 'RESET', 'ERROR', 'NEW', $2 FROM reset
)
SELECT * FROM reset
)sql"};

absl::StatusOr<File> FileStore::Reset(const TxOptions& options, int64_t file_id,
                                      const std::string& reason) {
  File file;
  RETURN_IF_ERROR(
      db_->Transact("file.reset", options, [&](Tx& tx) -> absl::Status {
        pqxx::result r = Exec(tx, kReset, file_id, reason);
        if (!r.empty()) {
          ASSIGN_OR_RETURN(file, ReadFile(r[0]));
          return absl::OkStatus();
        }
        pqxx::result state = Exec(tx, kFileState, file_id);
        if (state.empty()) {
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(file_id),
              absl::StrCat("file ", file_id, ": no such file"));
        }
        return WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                                 "file ", file_id, ": is ", state[0][0].c_str(),
                                 "; only an ERROR file can be reset to NEW")),
                             reason::kFileNotInError,
                             {{"file_id", absl::StrCat(file_id)},
                              {"status", state[0][0].c_str()}});
      }));
  return file;
}

// ---- ListFileEvents ----

constexpr Query kFileExists{"file.exists", "SELECT 1 FROM files WHERE id = $1"};

constexpr Query kEventsOfFile{"file.events_of_file", R"sql(
SELECT )sql" METAD_FILE_EVENT_COLUMNS R"sql(
FROM file_events WHERE file_id = $1 AND id > $2
ORDER BY id LIMIT $3
)sql"};

constexpr Query kEventsAll{"file.events_all", R"sql(
SELECT )sql" METAD_FILE_EVENT_COLUMNS R"sql(
FROM file_events WHERE id > $1
ORDER BY id LIMIT $2
)sql"};

absl::StatusOr<std::vector<FileEvent>> FileStore::ListEvents(
    const TxOptions& options, int64_t file_id, int64_t after_id, int limit) {
  std::vector<FileEvent> events;
  RETURN_IF_ERROR(
      db_->Transact("file.list_events", options, [&](Tx& tx) -> absl::Status {
        events.clear();
        pqxx::result r;
        if (file_id != 0) {
          if (Exec(tx, kFileExists, file_id).empty()) {
            return NotFoundResourceError(
                resource::kFile, absl::StrCat(file_id),
                absl::StrCat("file ", file_id, ": no such file"));
          }
          r = Exec(tx, kEventsOfFile, file_id, after_id, limit);
        } else {
          r = Exec(tx, kEventsAll, after_id, limit);
        }
        for (const auto& row : r) events.push_back(ReadFileEvent(row));
        return absl::OkStatus();
      }));
  return events;
}

#undef METAD_FILE_COLUMNS
#undef METAD_FILE_EVENT_COLUMNS

}  // namespace metad::store
