#include "store/file_store.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "store/proto_time.h"
#include "store/queries/file.sql.h"
#include "store/sql.h"

namespace metad::store {
namespace {

using metad::v1::File;
using metad::v1::FileEvent;
using metad::v1::FileSpec;
using metad::v1::FileStatus;

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

// The columns of metad_file_row (migrations/functions/15_rows.sql), found by
// name once per result (see store/sql.h).
struct FileColumns {
  explicit FileColumns(const pqxx::result& r)
      : id(r.column_number("id")),
        source(r.column_number("source")),
        file_name(r.column_number("file_name")),
        status(r.column_number("status")),
        checksum(r.column_number("checksum")),
        size_bytes(r.column_number("size_bytes")),
        row_count(r.column_number("row_count")),
        attributes(r.column_number("attributes")),
        run_id(r.column_number("run_id")),
        error_message(r.column_number("error_message")),
        create_us(r.column_number("create_us")),
        update_us(r.column_number("update_us")) {}
  pqxx::row_size_type id, source, file_name, status, checksum, size_bytes,
      row_count, attributes, run_id, error_message, create_us, update_us;
};

absl::StatusOr<File> ReadFile(const pqxx::row& row, const FileColumns& c) {
  File file;
  file.set_id(row[c.id].as<int64_t>());
  file.set_source(row[c.source].c_str());
  file.set_file_name(row[c.file_name].c_str());
  file.set_status(FileStatusFromText(row[c.status].c_str()));
  file.set_checksum(row[c.checksum].c_str());
  file.set_size_bytes(OrUnknown(row[c.size_bytes]));
  file.set_row_count(OrUnknown(row[c.row_count]));
  RETURN_IF_ERROR(ReadAttributes(row[c.attributes], file.mutable_attributes()));
  file.set_run_id(OrZero(row[c.run_id]));
  file.set_error_message(row[c.error_message].c_str());
  ReadTime(row[c.create_us], file.mutable_create_time());
  ReadTime(row[c.update_us], file.mutable_update_time());
  return file;
}

// The file of a statement that returns one; `r` is not empty.
absl::StatusOr<File> ReadOneFile(const pqxx::result& r) {
  return ReadFile(r[0], FileColumns(r));
}

absl::StatusOr<std::vector<File>> ReadFiles(const pqxx::result& result) {
  const FileColumns columns(result);
  std::vector<File> files;
  files.reserve(result.size());
  for (const auto& row : result) {
    ASSIGN_OR_RETURN(File file, ReadFile(row, columns));
    files.push_back(std::move(file));
  }
  return files;
}

// ---- run liveness (ClaimFiles, CompleteFile) ----

// OK when run `run_id` is PROCESSING with a lease in the future (database
// clock); NOT_FOUND or FAILED_PRECONDITION naming the reason otherwise. The
// run's row stays locked FOR SHARE (file.lock_run): it cannot end before this
// transaction does.
absl::Status LockLiveRun(Tx& tx, int64_t run_id, absl::string_view action) {
  pqxx::result r = Exec(tx, sql::kFileLockRun, run_id);
  if (r.empty()) {
    return NotFoundResourceError(resource::kRun, absl::StrCat(run_id),
                                 absl::StrCat("run ", run_id, ": no such run"));
  }
  const pqxx::row run = r[0];
  const std::string status = run["status"].c_str();
  if (status != "PROCESSING") {
    std::string why = run["error_message"].c_str();
    return RunEndedError(
        run_id, status,
        absl::StrCat("run ", run_id, ": has ended as ", status,
                     why.empty() ? "" : absl::StrCat(" (", why, ")"),
                     "; only a live run can ", action, "; start a new run"));
  }
  if (!run["live"].as<bool>()) {
    google::protobuf::Timestamp expired;
    ReadTime(run["lease_us"], &expired);
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

FileEventColumns::FileEventColumns(const pqxx::result& r)
    : id(r.column_number("id")),
      file_id(r.column_number("file_id")),
      kind(r.column_number("kind")),
      from_status(r.column_number("from_status")),
      to_status(r.column_number("to_status")),
      run_id(r.column_number("run_id")),
      message(r.column_number("message")),
      event_us(r.column_number("event_us")) {}

void ReadFileEvent(const pqxx::row& row, const FileEventColumns& c,
                   FileEvent* event) {
  event->set_id(row[c.id].as<int64_t>());
  event->set_file_id(row[c.file_id].as<int64_t>());
  event->set_kind(row[c.kind].c_str());
  if (!row[c.from_status].is_null()) {
    event->set_from_status(FileStatusFromText(row[c.from_status].c_str()));
  }
  event->set_to_status(FileStatusFromText(row[c.to_status].c_str()));
  event->set_run_id(OrZero(row[c.run_id]));
  event->set_message(row[c.message].c_str());
  ReadTime(row[c.event_us], event->mutable_event_time());
}

absl::Status FenceRun(Tx& tx, int64_t run_id, absl::string_view action) {
  return LockLiveRun(tx, run_id, action);
}

std::string FileAttributesJson(
    const google::protobuf::Map<std::string, std::string>& attributes) {
  return AttributesJson(attributes);
}

absl::StatusOr<std::vector<File>> ReadFileRows(const pqxx::result& result) {
  return ReadFiles(result);
}

FileStore::FileStore(Database* db) : db_(db) {}

// ---- RegisterFile(s) ----

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
            Exec(tx, sql::kFileRegisterInsert, sources_literal, names_literal,
                 TextArrayLiteral(checksums), IntArrayLiteral(sizes),
                 IntArrayLiteral(row_counts), TextArrayLiteral(attributes),
                 TextArrayLiteral(request_ids));
        absl::flat_hash_set<int64_t> created;
        for (const auto& row : inserted) {
          created.insert(row["id"].as<int64_t>());
        }
        pqxx::result stored =
            Exec(tx, sql::kFileRegisterRead, sources_literal, names_literal);
        if (stored.size() != specs.size()) {
          // Only an explicit delete between the two statements can do this.
          return absl::AbortedError(
              "a file changed while it was being registered; retry");
        }
        const FileColumns columns(stored);
        for (const auto& row : stored) {
          ASSIGN_OR_RETURN(File file, ReadFile(row, columns));
          // erase: a name repeated in the request is created once, first.
          bool is_new = created.erase(file.id()) > 0;
          results.push_back(RegisteredFile{std::move(file), is_new});
        }
        return absl::OkStatus();
      }));
  return results;
}

// ---- GetFile ----

absl::StatusOr<File> FileStore::Get(const TxOptions& options, int64_t id) {
  File file;
  RETURN_IF_ERROR(
      db_->Transact("file.get", options, [&](Tx& tx) -> absl::Status {
        pqxx::result r = Exec(tx, sql::kFileGetById, id);
        if (r.empty()) {
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(id),
              absl::StrCat("file ", id, ": no such file"));
        }
        ASSIGN_OR_RETURN(file, ReadOneFile(r));
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
        pqxx::result r = Exec(tx, sql::kFileGetByName, source, file_name);
        if (r.empty()) {
          // Names can be long: say which one without echoing 1 KiB.
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(source, "/", file_name),
              "no file with that source and file_name is registered");
        }
        ASSIGN_OR_RETURN(file, ReadOneFile(r));
        return absl::OkStatus();
      }));
  return file;
}

// ---- ListFiles ----

absl::StatusOr<std::vector<File>> FileStore::List(const TxOptions& options,
                                                  const FileFilter& filter,
                                                  int64_t after_id, int limit) {
  std::optional<std::string> status;
  if (filter.status) status = FileStatusText(*filter.status);
  std::vector<File> files;
  RETURN_IF_ERROR(
      db_->Transact("file.list", options, [&](Tx& tx) -> absl::Status {
        Exec(tx, sql::kFileForceCustomPlan);
        ASSIGN_OR_RETURN(
            files,
            ReadFiles(Exec(tx, sql::kFileList, after_id, status, filter.source,
                           filter.run_id, filter.created_after_us,
                           filter.created_before_us, limit)));
        return absl::OkStatus();
      }));
  return files;
}

// ---- ClaimFiles ----

absl::StatusOr<std::vector<File>> FileStore::Claim(const TxOptions& options,
                                                   int64_t run_id,
                                                   const std::string& source,
                                                   int limit) {
  std::vector<File> files;
  RETURN_IF_ERROR(
      db_->Transact("file.claim", options, [&](Tx& tx) -> absl::Status {
        RETURN_IF_ERROR(LockLiveRun(tx, run_id, "claim files"));
        pqxx::result r =
            source.empty()
                ? Exec(tx, sql::kFileClaimAny, run_id, limit)
                : Exec(tx, sql::kFileClaimFromSource, run_id, limit, source);
        ASSIGN_OR_RETURN(files, ReadFiles(r));
        return absl::OkStatus();
      }));
  return files;
}

// ---- CompleteFile ----

absl::StatusOr<File> FileStore::Complete(const TxOptions& options,
                                         int64_t file_id, int64_t run_id,
                                         FileStatus status,
                                         const std::string& error_message) {
  File file;
  RETURN_IF_ERROR(
      db_->Transact("file.complete", options, [&](Tx& tx) -> absl::Status {
        pqxx::result state = Exec(tx, sql::kFileState, file_id);
        if (state.empty()) {
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(file_id),
              absl::StrCat("file ", file_id, ": no such file"));
        }
        RETURN_IF_ERROR(LockLiveRun(tx, run_id, "complete files"));
        pqxx::result r = Exec(tx, sql::kFileComplete, file_id, run_id,
                              FileStatusText(status), error_message);
        if (!r.empty()) {
          ASSIGN_OR_RETURN(file, ReadOneFile(r));
          return absl::OkStatus();
        }
        // The update is fenced; its row lock makes this read current.
        state = Exec(tx, sql::kFileState, file_id);
        const std::string current = state[0]["status"].c_str();
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
                             OrZero(state[0]["run_id"]), ", not run ", run_id)),
            reason::kFileNotHeld,
            {{"file_id", absl::StrCat(file_id)},
             {"run_id", absl::StrCat(run_id)},
             {"status", "PROCESSING"},
             {"holder_run_id", absl::StrCat(OrZero(state[0]["run_id"]))}});
      }));
  return file;
}

// ---- ResetFile ----

absl::StatusOr<File> FileStore::Reset(const TxOptions& options, int64_t file_id,
                                      const std::string& reason) {
  File file;
  RETURN_IF_ERROR(
      db_->Transact("file.reset", options, [&](Tx& tx) -> absl::Status {
        pqxx::result r = Exec(tx, sql::kFileReset, file_id, reason);
        if (!r.empty()) {
          ASSIGN_OR_RETURN(file, ReadOneFile(r));
          return absl::OkStatus();
        }
        pqxx::result state = Exec(tx, sql::kFileState, file_id);
        if (state.empty()) {
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(file_id),
              absl::StrCat("file ", file_id, ": no such file"));
        }
        return WithErrorInfo(
            absl::FailedPreconditionError(absl::StrCat(
                "file ", file_id, ": is ", state[0]["status"].c_str(),
                "; only an ERROR file can be reset to NEW")),
            reason::kFileNotInError,
            {{"file_id", absl::StrCat(file_id)},
             {"status", state[0]["status"].c_str()}});
      }));
  return file;
}

// ---- ListFileEvents ----

absl::StatusOr<std::vector<FileEvent>> FileStore::ListEvents(
    const TxOptions& options, int64_t file_id, int64_t after_id, int limit) {
  std::vector<FileEvent> events;
  RETURN_IF_ERROR(
      db_->Transact("file.list_events", options, [&](Tx& tx) -> absl::Status {
        events.clear();
        pqxx::result r;
        if (file_id != 0) {
          if (Exec(tx, sql::kFileExists, file_id).empty()) {
            return NotFoundResourceError(
                resource::kFile, absl::StrCat(file_id),
                absl::StrCat("file ", file_id, ": no such file"));
          }
          r = Exec(tx, sql::kFileEventsOfFile, file_id, after_id, limit);
        } else {
          r = Exec(tx, sql::kFileEventsAll, after_id, limit);
        }
        const FileEventColumns columns(r);
        events.resize(r.size());
        for (size_t i = 0; i < r.size(); ++i) {
          ReadFileEvent(r[i], columns, &events[i]);
        }
        return absl::OkStatus();
      }));
  return events;
}

}  // namespace metad::store
