#include "store/file_store.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "store/proto_time.h"
#include "store/queries/file.sql.h"
#include "store/sql.h"
#include "store/string_map_json.h"

namespace metad::store {
namespace {

using metad::v1::File;
using metad::v1::FileEvent;
using metad::v1::FileSpec;
using metad::v1::FileStatus;

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
        update_us(r.column_number("update_us")),
        version(r.column_number("version")),
        producer_run_id(r.column_number("producer_run_id")) {}
  pqxx::row_size_type id, source, file_name, status, checksum, size_bytes,
      row_count, attributes, run_id, error_message, create_us, update_us,
      version, producer_run_id;
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
  // Attributes travel as a JSON object of strings (files.attributes jsonb).
  if (!row[c.attributes].is_null()) {
    RETURN_IF_ERROR(ReadStringMapJson(row[c.attributes].c_str(),
                                      "file's attributes",
                                      file.mutable_attributes()));
  }
  file.set_run_id(OrZero(row[c.run_id]));
  file.set_error_message(row[c.error_message].c_str());
  ReadTime(row[c.create_us], file.mutable_create_time());
  ReadTime(row[c.update_us], file.mutable_update_time());
  file.set_version(row[c.version].as<int32_t>());
  file.set_producer_run_id(OrZero(row[c.producer_run_id]));
  return file;
}

// A CHANGED event's detail ({"previous": {...}, "current": {...}}, written
// by file.register_change) into FileContent; anything else is left out.
void ReadContentDetail(const pqxx::field& field, FileEvent* event) {
  if (field.is_null()) return;
  google::protobuf::Struct detail;
  if (!google::protobuf::util::JsonStringToMessage(field.c_str(), &detail)
           .ok()) {
    return;
  }
  auto read = [&detail](const char* key, metad::v1::FileContent* out) {
    auto it = detail.fields().find(key);
    if (it == detail.fields().end() || !it->second.has_struct_value()) return;
    const auto& fields = it->second.struct_value().fields();
    auto number = [&fields](const char* name, double unknown) {
      auto f = fields.find(name);
      return f != fields.end() && f->second.has_number_value()
                 ? f->second.number_value()
                 : unknown;
    };
    out->set_version(static_cast<int32_t>(number("version", 0)));
    auto checksum = fields.find("checksum");
    if (checksum != fields.end() && checksum->second.has_string_value()) {
      out->set_checksum(checksum->second.string_value());
    }
    // JSON numbers are doubles: exact for sizes below 2^53 bytes (8 PiB).
    out->set_size_bytes(static_cast<int64_t>(number("size_bytes", -1)));
  };
  read("previous", event->mutable_previous());
  read("current", event->mutable_current());
}

// Whether `spec` gives a checksum or size that differs from `file`'s: the
// rule file.register_change applies (values not given never count; a given
// size differs from an unknown one, -1 here).
bool GivesNewContent(const FileSpec& spec, const File& file) {
  return (!spec.checksum().empty() && spec.checksum() != file.checksum()) ||
         (spec.size_bytes() > 0 && spec.size_bytes() != file.size_bytes());
}

bool GivesContent(const FileSpec& spec) {
  return !spec.checksum().empty() || spec.size_bytes() > 0;
}

std::string BoolArrayLiteral(const std::vector<bool>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += values[i] ? 't' : 'f';
  }
  return out + "}";
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
absl::Status NoSuchRun(int64_t run_id) {
  return NotFoundResourceError(resource::kRun, absl::StrCat(run_id),
                               absl::StrCat("run ", run_id, ": no such run"));
}

// CheckLiveRun for a run's row (status, live, lease_us, error_message,
// cancelled).
absl::Status CheckLiveRunRow(const pqxx::row& run, int64_t run_id,
                             absl::string_view action) {
  const std::string status = run["status"].c_str();
  if (status != "PROCESSING") {
    std::string why = run["error_message"].c_str();
    if (run["cancelled"].as<bool>()) {
      return RunCancelledError(
          run_id,
          absl::StrCat("run ", run_id, ": was cancelled (", why,
                       "); only a live run can ", action, "; start a new run"));
    }
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

absl::Status CheckLiveRun(const pqxx::result& r, int64_t run_id,
                          absl::string_view action) {
  if (r.empty()) return NoSuchRun(run_id);
  return CheckLiveRunRow(r[0], run_id, action);
}

// A claim's request_id that the run used before (`run` has claim_source and
// claim_limit, not NULL): OK when the call repeats that claim (a retry),
// ALREADY_EXISTS otherwise.
absl::Status CheckSameClaim(const pqxx::row& run, int64_t run_id,
                            const std::string& request_id,
                            const std::string& source, int limit) {
  const std::string first_source = run["claim_source"].c_str();
  const int first_limit = run["claim_limit"].as<int>();
  if (first_source == source && first_limit == limit) return absl::OkStatus();
  return WithErrorInfo(
      absl::AlreadyExistsError(absl::StrCat(
          "request_id: ", request_id, " was used in run ", run_id,
          " for a claim of ", first_limit, " files from ",
          first_source.empty() ? "any source"
                               : absl::StrCat("source ", first_source),
          "; a retry must repeat the call, a new claim needs a "
          "new request_id")),
      reason::kRequestIdReused,
      {{"run_id", absl::StrCat(run_id)}, {"request_id", request_id}});
}

absl::Status LockLiveRun(Tx& tx, int64_t run_id, absl::string_view action) {
  return CheckLiveRun(Exec(tx, sql::kFileLockRun, run_id), run_id, action);
}

// Claim's answer when a concurrent twin (same run and request_id) recorded
// its claim first: this attempt's claim is rolled back and the twin's
// replayed.
absl::Status TwinClaimedFirst() {
  return absl::AbortedError("claim request recorded concurrently");
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
      event_us(r.column_number("event_us")),
      actor(r.column_number("actor")),
      detail(r.column_number("detail")) {}

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
  event->set_actor(row[c.actor].c_str());
  if (event->kind() == kFileEventChanged) {
    ReadContentDetail(row[c.detail], event);
  }
}

absl::Status FenceRun(Tx& tx, int64_t run_id, absl::string_view action) {
  return LockLiveRun(tx, run_id, action);
}

absl::StatusOr<std::vector<File>> ReadFileRows(const pqxx::result& result) {
  return ReadFiles(result);
}

FileStore::FileStore(Database* db) : db_(db) {}

// ---- RegisterFile(s) ----

absl::StatusOr<std::vector<RegisteredFile>> FileStore::Register(
    const TxOptions& options, const std::vector<const FileSpec*>& specs,
    const std::string& request_id, const ChangeIntent& intent) {
  return Register(options, specs,
                  std::vector<std::string>(specs.size(), request_id), {intent});
}

namespace {

// The registrations among `results` that bring new content for a known file
// (FileStore::Register's rule), applied by file.register_change: every
// occurrence of such a file in the request that gives content, in request
// order, so that a name repeated with different contents ends as its last
// occurrence says. One statement per occurrence rank (a statement can
// change a row once); a registration that a concurrent one already made
// current changes nothing and answers the row as it is now.
absl::Status ApplyChanges(Tx& tx, const std::vector<const FileSpec*>& specs,
                          const std::vector<ChangeIntent>& intents,
                          std::vector<RegisteredFile>& results) {
  absl::flat_hash_set<int64_t> changing;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (GivesNewContent(*specs[i], results[i].file)) {
      changing.insert(results[i].file.id());
    }
  }
  if (changing.empty()) return absl::OkStatus();
  // rounds[k]: the k-th content-giving occurrence of each changing file.
  std::vector<std::vector<size_t>> rounds;
  absl::flat_hash_map<int64_t, size_t> seen;
  for (size_t i = 0; i < specs.size(); ++i) {
    const int64_t id = results[i].file.id();
    if (!changing.contains(id) || !GivesContent(*specs[i])) continue;
    const size_t rank = seen[id]++;
    if (rounds.size() <= rank) rounds.resize(rank + 1);
    rounds[rank].push_back(i);
  }
  const ChangeIntent keep;
  for (const std::vector<size_t>& round : rounds) {
    std::vector<int64_t> ids, sizes, rows;
    std::vector<std::string> checksums, actors;
    std::vector<bool> reprocess;
    for (size_t i : round) {
      const ChangeIntent& intent = intents.empty()       ? keep
                                   : intents.size() == 1 ? intents[0]
                                                         : intents[i];
      ids.push_back(results[i].file.id());
      checksums.push_back(specs[i]->checksum());
      sizes.push_back(specs[i]->size_bytes());
      rows.push_back(specs[i]->row_count());
      reprocess.push_back(intent.reprocess);
      actors.push_back(intent.actor);
    }
    pqxx::result changed =
        Exec(tx, sql::kFileRegisterChange, IntArrayLiteral(ids),
             TextArrayLiteral(checksums), IntArrayLiteral(sizes),
             IntArrayLiteral(rows), BoolArrayLiteral(reprocess),
             TextArrayLiteral(actors));
    std::vector<bool> done(round.size(), false);
    const FileColumns columns(changed);
    for (const auto& row : changed) {
      const size_t k = row["ord"].as<size_t>() - 1;
      ASSIGN_OR_RETURN(results[round[k]].file, ReadFile(row, columns));
      results[round[k]].changed = true;
      done[k] = true;
    }
    std::vector<int64_t> stale;
    for (size_t k = 0; k < round.size(); ++k) {
      if (!done[k]) stale.push_back(ids[k]);
    }
    if (stale.empty()) continue;
    // Made current by a concurrent registrant (or by this call's own
    // earlier occurrence): answer the row as it is now.
    pqxx::result now = Exec(tx, sql::kFileGetByIds, IntArrayLiteral(stale));
    const FileColumns now_columns(now);
    absl::flat_hash_map<int64_t, File> by_id;
    for (const auto& row : now) {
      ASSIGN_OR_RETURN(File file, ReadFile(row, now_columns));
      by_id[file.id()] = std::move(file);
    }
    for (size_t k = 0; k < round.size(); ++k) {
      auto it = by_id.find(ids[k]);
      if (!done[k] && it != by_id.end()) results[round[k]].file = it->second;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<RegisteredFile>> FileStore::Register(
    const TxOptions& options, const std::vector<const FileSpec*>& specs,
    const std::vector<std::string>& request_ids,
    const std::vector<ChangeIntent>& intents) {
  std::vector<std::string> sources, names, checksums, attributes;
  std::vector<int64_t> sizes, row_counts;
  // Where each name first occurs in the request (a repeated name is created
  // once, at its first occurrence, and answered alike everywhere).
  absl::flat_hash_map<std::pair<absl::string_view, absl::string_view>, size_t>
      first;
  std::vector<size_t> first_of(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const FileSpec* spec = specs[i];
    sources.push_back(spec->source());
    names.push_back(spec->file_name());
    checksums.push_back(spec->checksum());
    sizes.push_back(spec->size_bytes());
    row_counts.push_back(spec->row_count());
    attributes.push_back(StringMapJson(spec->attributes()));
    first_of[i] =
        first.try_emplace({spec->source(), spec->file_name()}, i).first->second;
  }
  std::vector<RegisteredFile> results;
  RETURN_IF_ERROR(
      db_->Transact("file.register", options, [&](Tx& tx) -> absl::Status {
        results.assign(specs.size(), RegisteredFile{});
        std::vector<bool> answered(specs.size(), false);
        pqxx::result inserted =
            Exec(tx, sql::kFileRegisterInsert, TextArrayLiteral(sources),
                 TextArrayLiteral(names), TextArrayLiteral(checksums),
                 IntArrayLiteral(sizes), IntArrayLiteral(row_counts),
                 TextArrayLiteral(attributes), TextArrayLiteral(request_ids));
        const FileColumns columns(inserted);
        for (const auto& row : inserted) {
          auto it = first.find(std::make_pair(
              absl::string_view(row[columns.source].c_str()),
              absl::string_view(row[columns.file_name].c_str())));
          if (it == first.end()) {
            return absl::InternalError("the insert answered a name not asked");
          }
          ASSIGN_OR_RETURN(results[it->second].file, ReadFile(row, columns));
          results[it->second].created = true;
          answered[it->second] = true;
        }
        if (inserted.size() < first.size()) {
          // Names that existed (or a concurrent registrant created while
          // the insert waited on it): read them in a fresh snapshot.
          std::vector<size_t> missing;
          std::vector<absl::string_view> missing_sources, missing_names;
          for (size_t i = 0; i < specs.size(); ++i) {
            if (first_of[i] != i || answered[i]) continue;
            missing.push_back(i);
            missing_sources.push_back(specs[i]->source());
            missing_names.push_back(specs[i]->file_name());
          }
          pqxx::result stored = ExecCustomPlan(
              tx, sql::kFileRegisterRead, TextArrayLiteral(missing_sources),
              TextArrayLiteral(missing_names));
          if (stored.size() != missing.size()) {
            // Only an explicit delete between the two statements can do
            // this.
            return absl::AbortedError(
                "a file changed while it was being registered; retry");
          }
          const FileColumns stored_columns(stored);
          for (size_t k = 0; k < missing.size(); ++k) {
            ASSIGN_OR_RETURN(results[missing[k]].file,
                             ReadFile(stored[k], stored_columns));
          }
        }
        for (size_t i = 0; i < specs.size(); ++i) {
          if (first_of[i] != i) results[i].file = results[first_of[i]].file;
        }
        return ApplyChanges(tx, specs, intents, results);
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
        const MapMatchParams attributes = MapMatch(filter.attributes);
        pqxx::result r;
        if (attributes.contains.has_value()) {
          r = Exec(tx, sql::kFileListSelected, after_id, status, filter.source,
                   filter.run_id, filter.created_after_us,
                   filter.created_before_us, limit, attributes.contains,
                   attributes.has_keys, kSelectorProbeLimit);
        }
        if (!attributes.contains.has_value() || !SelectorProbeAnswered(r)) {
          r = Exec(tx, sql::kFileList, after_id, status, filter.source,
                   filter.run_id, filter.created_after_us,
                   filter.created_before_us, limit, attributes.contains,
                   attributes.has_keys);
        }
        ASSIGN_OR_RETURN(files, ReadFiles(r));
        return absl::OkStatus();
      }));
  return files;
}

// ---- ClaimFiles ----

absl::StatusOr<ClaimResult> FileStore::Claim(const TxOptions& options,
                                             int64_t run_id,
                                             const std::string& source,
                                             int limit,
                                             const std::string& request_id) {
  std::optional<std::string> key;
  if (!request_id.empty()) key = request_id;
  ClaimResult result;
  bool twin = false;
  // Two passes at most: the second replays a twin that recorded first.
  for (int pass = 0; pass < 2; ++pass) {
    absl::Status status =
        db_->Transact("file.claim", options, [&](Tx& tx) -> absl::Status {
          result = ClaimResult();
          pqxx::result run = Exec(tx, sql::kFileLockRunClaim, run_id, key);
          RETURN_IF_ERROR(CheckLiveRun(run, run_id, "claim files"));
          if (key.has_value() && !run[0]["claim_limit"].is_null()) {
            RETURN_IF_ERROR(
                CheckSameClaim(run[0], run_id, *key, source, limit));
            ASSIGN_OR_RETURN(
                result.files,
                ReadFiles(Exec(tx, sql::kFileClaimReplay, run_id, *key)));
            result.replayed = true;
            return absl::OkStatus();
          }
          pqxx::result r =
              source.empty() ? Exec(tx, sql::kFileClaimAny, run_id, limit, key)
                             : Exec(tx, sql::kFileClaimFromSource, run_id,
                                    limit, source, key);
          if (key.has_value() && !r.empty() &&
              r[0]["recorded"].as<int64_t>() == 0) {
            return TwinClaimedFirst();
          }
          ASSIGN_OR_RETURN(result.files, ReadFiles(r));
          return absl::OkStatus();
        });
    twin = status.code() == absl::StatusCode::kAborted &&
           status.message() == TwinClaimedFirst().message();
    if (!twin) {
      RETURN_IF_ERROR(status);
      return result;
    }
  }
  return absl::AbortedError(
      absl::StrCat("request_id: ", request_id,
                   ": concurrent claims with this id kept "
                   "conflicting; retry"));
}

// ---- ClaimFiles, coalesced (store/claim_batcher.h) ----

absl::StatusOr<std::vector<absl::StatusOr<ClaimResult>>> FileStore::ClaimMany(
    const TxOptions& options, const std::vector<const ClaimCall*>& calls) {
  // Runs in id order: every batch locks its runs in the same order.
  std::vector<size_t> order(calls.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&calls](size_t a, size_t b) {
    return calls[a]->run_id < calls[b]->run_id;
  });
  std::vector<int64_t> runs;
  std::vector<std::string> request_ids;
  for (size_t i : order) {
    if (!runs.empty() && runs.back() == calls[i]->run_id) {
      return TwinClaimedFirst();  // two calls of one run: one by one
    }
    runs.push_back(calls[i]->run_id);
    request_ids.push_back(calls[i]->request_id);
  }
  std::vector<absl::StatusOr<ClaimResult>> answers;
  RETURN_IF_ERROR(
      db_->Transact("file.claim_many", options, [&](Tx& tx) -> absl::Status {
        answers.assign(calls.size(), ClaimResult());
        pqxx::result locked =
            Exec(tx, sql::kFileLockRunsClaim, IntArrayLiteral(runs),
                 TextArrayLiteral(request_ids));
        absl::flat_hash_map<int64_t, pqxx::result::size_type> row_of;
        for (pqxx::result::size_type r = 0; r < locked.size(); ++r) {
          row_of[locked[r]["run_id"].as<int64_t>()] = r;
        }
        // The calls that claim anew, by source, in run order.
        std::map<std::string, std::vector<size_t>> fresh;
        for (size_t i : order) {
          const ClaimCall& call = *calls[i];
          auto found = row_of.find(call.run_id);
          if (found == row_of.end()) {
            answers[i] = NoSuchRun(call.run_id);
            continue;
          }
          const pqxx::row run = locked[found->second];
          if (absl::Status live =
                  CheckLiveRunRow(run, call.run_id, "claim files");
              !live.ok()) {
            answers[i] = live;
            continue;
          }
          if (!call.request_id.empty() && !run["claim_limit"].is_null()) {
            if (absl::Status same = CheckSameClaim(
                    run, call.run_id, call.request_id, call.source, call.limit);
                !same.ok()) {
              answers[i] = same;
              continue;
            }
            ClaimResult replay;
            ASSIGN_OR_RETURN(replay.files,
                             ReadFiles(Exec(tx, sql::kFileClaimReplay,
                                            call.run_id, call.request_id)));
            replay.replayed = true;
            answers[i] = std::move(replay);
            continue;
          }
          fresh[call.source].push_back(i);
        }
        if (!fresh.empty()) Exec(tx, sql::kFileClaimManyPlan);
        for (const auto& [source, members] : fresh) {
          std::vector<int64_t> ids, limits;
          std::vector<std::string> keys;
          int64_t total = 0;
          size_t with_key = 0;
          absl::flat_hash_map<int64_t, size_t> call_of;
          for (size_t i : members) {
            ids.push_back(calls[i]->run_id);
            limits.push_back(calls[i]->limit);
            keys.push_back(calls[i]->request_id);
            total += calls[i]->limit;
            if (!calls[i]->request_id.empty()) ++with_key;
            call_of[calls[i]->run_id] = i;
          }
          pqxx::result r =
              source.empty()
                  ? Exec(tx, sql::kFileClaimManyAny, IntArrayLiteral(ids),
                         IntArrayLiteral(limits), TextArrayLiteral(keys), total)
                  : Exec(tx, sql::kFileClaimManyFromSource,
                         IntArrayLiteral(ids), IntArrayLiteral(limits),
                         TextArrayLiteral(keys), total, source);
          if (r.empty() || r[0]["recorded"].as<int64_t>() !=
                               static_cast<int64_t>(with_key)) {
            return TwinClaimedFirst();  // rolled back; one by one
          }
          const FileColumns columns(r);
          for (const auto& row : r) {
            if (row[columns.id].is_null()) continue;  // nothing claimed
            ASSIGN_OR_RETURN(File file, ReadFile(row, columns));
            auto owner = call_of.find(file.run_id());
            if (owner == call_of.end()) {
              return absl::InternalError(
                  absl::StrCat("claim batch: file ", file.id(), " went to run ",
                               file.run_id(), ", which is not in the batch"));
            }
            answers[owner->second]->files.push_back(std::move(file));
          }
        }
        return absl::OkStatus();
      }));
  return answers;
}

// ---- CompleteFile ----

absl::StatusOr<CompleteResult> FileStore::Complete(
    const TxOptions& options, int64_t file_id, int64_t run_id,
    FileStatus status, const std::string& error_message) {
  CompleteResult result;
  File& file = result.file;
  RETURN_IF_ERROR(
      db_->Transact("file.complete", options, [&](Tx& tx) -> absl::Status {
        pqxx::result state = Exec(tx, sql::kFileState, file_id);
        if (state.empty()) {
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(file_id),
              absl::StrCat("file ", file_id, ": no such file"));
        }
        result.replayed = false;
        // Already done by this run (a retry after a lost answer): answer as
        // the first call did, even if the run has ended since.
        const pqxx::row now = state[0];
        if (now["status"].c_str() == std::string(FileStatusText(status)) &&
            !now["run_id"].is_null() && now["run_id"].as<int64_t>() == run_id &&
            now["error_message"].c_str() == error_message) {
          ASSIGN_OR_RETURN(file,
                           ReadOneFile(Exec(tx, sql::kFileGetById, file_id)));
          result.replayed = true;
          return absl::OkStatus();
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
  return result;
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

// ---- ReprocessFiles ----

absl::StatusOr<Reprocessed> FileStore::ReprocessIds(
    const TxOptions& options, const std::vector<int64_t>& ids,
    const std::string& reason, const std::string& actor) {
  const std::string ids_literal = IntArrayLiteral(ids);
  Reprocessed out;
  RETURN_IF_ERROR(
      db_->Transact("file.reprocess", options, [&](Tx& tx) -> absl::Status {
        out = Reprocessed{};
        absl::flat_hash_map<int64_t, std::string> status;
        for (const auto& row :
             Exec(tx, sql::kFileReprocessLockIds, ids_literal)) {
          status[row["id"].as<int64_t>()] = row["status"].c_str();
        }
        for (int64_t id : ids) {
          if (!status.contains(id)) {
            return NotFoundResourceError(
                resource::kFile, absl::StrCat(id),
                absl::StrCat("file ", id,
                             ": no such file; nothing was "
                             "reprocessed"));
          }
        }
        for (int64_t id : ids) {
          const std::string& current = status[id];
          if (current != "SUCCESS" && current != "ERROR") {
            return WithErrorInfo(
                absl::FailedPreconditionError(absl::StrCat(
                    "file ", id, ": is ", current,
                    "; only SUCCESS or ERROR files can be reprocessed; "
                    "nothing was reprocessed")),
                reason::kFileNotFinal,
                {{"file_id", absl::StrCat(id)}, {"status", current}});
          }
        }
        for (const auto& row :
             Exec(tx, sql::kFileReprocess, ids_literal, reason, actor)) {
          out.file_ids.push_back(row["id"].as<int64_t>());
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<Reprocessed> FileStore::ReprocessFiltered(
    const TxOptions& options, const ReprocessFilter& filter, int limit,
    const std::string& reason, const std::string& actor) {
  std::optional<std::string> status;
  if (filter.status) status = FileStatusText(*filter.status);
  Reprocessed out;
  RETURN_IF_ERROR(
      db_->Transact("file.reprocess", options, [&](Tx& tx) -> absl::Status {
        out = Reprocessed{};
        Exec(tx, sql::kFileForceCustomPlan);
        std::vector<int64_t> picked;
        for (const auto& row :
             Exec(tx, sql::kFileReprocessPick, status, filter.source,
                  filter.run_id, filter.producer_run_id,
                  filter.updated_after_us, filter.updated_before_us, limit)) {
          picked.push_back(row["id"].as<int64_t>());
        }
        if (!picked.empty()) {
          for (const auto& row : Exec(tx, sql::kFileReprocess,
                                      IntArrayLiteral(picked), reason, actor)) {
            out.file_ids.push_back(row["id"].as<int64_t>());
          }
        }
        out.more =
            Exec(tx, sql::kFileReprocessMore, status, filter.source,
                 filter.run_id, filter.producer_run_id, filter.updated_after_us,
                 filter.updated_before_us)[0]["more"]
                .as<bool>();
        return absl::OkStatus();
      }));
  return out;
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
