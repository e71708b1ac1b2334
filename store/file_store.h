// The file registry in PostgreSQL (tables files and file_events): dedupe by
// (source, file_name), claims for runs, outcomes, resets, and the audit
// trail. Every public method is one transaction; every state change appends
// its file_events rows in the same statement.
//
// Inputs are validated by the caller (daemon/services/file_service.cc); the
// schema's CHECK constraints are the backstop.
#ifndef METAD_STORE_FILE_STORE_H_
#define METAD_STORE_FILE_STORE_H_

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "metad/v1/files.pb.h"
#include "store/database.h"
#include "store/string_map_json.h"

namespace metad::store {

// files.status / file_events.{from,to}_status text <-> proto enum.
// FileStatusText(UNSPECIFIED or unknown) is "" ; FileStatusFromText of an
// unknown text is FILE_STATUS_UNSPECIFIED.
const char* FileStatusText(metad::v1::FileStatus status);
metad::v1::FileStatus FileStatusFromText(absl::string_view text);

// The columns of metad_file_event_row (migrations/functions/15_rows.sql),
// found by name once per result; for the statements of file.sql and
// watch.sql that return file events.
struct FileEventColumns {
  explicit FileEventColumns(const pqxx::result& r);
  pqxx::row_size_type id, file_id, kind, from_status, to_status, run_id,
      message, event_us, actor, detail;
};

// Fills *event from a row with FileEventColumns (previous/current from the
// detail of a CHANGED event).
void ReadFileEvent(const pqxx::row& row, const FileEventColumns& columns,
                   metad::v1::FileEvent* event);

// file_events.kind values.
inline constexpr char kFileEventRegistered[] = "REGISTERED";
inline constexpr char kFileEventClaimed[] = "CLAIMED";
inline constexpr char kFileEventCompleted[] = "COMPLETED";
inline constexpr char kFileEventReset[] = "RESET";
inline constexpr char kFileEventChanged[] = "CHANGED";
inline constexpr char kFileEventReprocessed[] = "REPROCESSED";

struct RegisteredFile {
  metad::v1::File file;
  // True when this call stored the record.
  bool created = false;
  // True when this call recorded a new version of a known file.
  bool changed = false;
};

// What a registration does when it brings new content for a known file.
struct ChangeIntent {
  // CHANGE_POLICY_REPROCESS: a SUCCESS or ERROR file goes back to NEW.
  bool reprocess = false;
  // Recorded on the CHANGED event.
  std::string actor;
};

// ReprocessFiles by filter; unset members do not filter, but at least one
// must be set (the caller checks).
struct ReprocessFilter {
  // SUCCESS or ERROR; unset for both.
  std::optional<metad::v1::FileStatus> status;
  std::optional<std::string> source;
  std::optional<int64_t> run_id;
  std::optional<int64_t> producer_run_id;
  // Microseconds since the epoch: update_time >= after, update_time < before.
  std::optional<int64_t> updated_after_us;
  std::optional<int64_t> updated_before_us;
};

struct Reprocessed {
  // The files sent back to NEW, ascending.
  std::vector<int64_t> file_ids;
  // True when the filter still matches files (by filter only).
  bool more = false;
};

// ListFiles filters; unset members do not filter.
struct FileFilter {
  std::optional<metad::v1::FileStatus> status;
  std::optional<std::string> source;
  std::optional<int64_t> run_id;
  // Microseconds since the epoch: create_time >= after, create_time < before.
  std::optional<int64_t> created_after_us;
  std::optional<int64_t> created_before_us;
  std::vector<MapTerm> attributes;  // the attribute selector's terms (AND)
};

struct ClaimResult {
  std::vector<metad::v1::File> files;
  bool replayed = false;  // request_id matched an earlier claim of the run
};

// One ClaimFiles call of a claim batch (store/claim_batcher.h): Claim's
// arguments.
struct ClaimCall {
  int64_t run_id = 0;
  std::string source;  // "" for any source
  int limit = 0;
  std::string request_id;  // "" for none
};

struct CompleteResult {
  metad::v1::File file;
  bool replayed = false;  // the file already had this outcome from the run
};
// For stores that write on behalf of a run in their own transaction
// (store/lineage_store.cc): the fence of ClaimFiles and CompleteFile. OK
// when run `run_id` is PROCESSING with a live lease, its row then locked
// FOR SHARE until `tx` ends (the run cannot end meanwhile); NOT_FOUND or
// FAILED_PRECONDITION (RUN_ENDED, LEASE_EXPIRED) naming the reason
// otherwise. `action` words the refusal ("record outputs").
absl::Status FenceRun(Tx& tx, int64_t run_id, absl::string_view action);

// The files of a result of metad_file_row's columns, in its order (the one
// file reader, for other stores' statements).
absl::StatusOr<std::vector<metad::v1::File>> ReadFileRows(
    const pqxx::result& result);

class FileStore {
 public:
  explicit FileStore(Database* db);

  // Registers `specs` (1..1000) in one transaction, all or nothing. Returns
  // one result per spec in the same order: the stored record and whether
  // this call created it or changed it; when the same (source, file_name)
  // appears twice, only the first occurrence can be created, and the later
  // ones apply in request order. New rows get ids in (source, file_name)
  // order (a fixed lock order keeps overlapping concurrent batches free of
  // deadlocks) and a REGISTERED event each. `request_id` ("" for none) is
  // stored on new rows.
  //
  // A known file changes when the spec gives a checksum (non-empty) or a
  // size (> 0) that differs from the stored one (a stored unknown size
  // differs from any given size); values not given never count. A change
  // stores the given checksum, size and row count, bumps the version, and
  // appends a CHANGED event (detail: previous and current version, checksum,
  // size); with intent.reprocess a SUCCESS or ERROR file also goes back to
  // NEW (no run, no error message). Identical content changes nothing. The
  // common case (new files, known files with the same content) costs the
  // two statements it always did; only a change runs more.
  // Returns, besides Database::Transact's codes: OK.
  absl::StatusOr<std::vector<RegisteredFile>> Register(
      const TxOptions& options,
      const std::vector<const metad::v1::FileSpec*>& specs,
      const std::string& request_id, const ChangeIntent& intent = {});

  // The same with one request id per spec, and one intent per spec or one
  // for all (none: the default for all): the calls that
  // store/register_batcher.h coalesces into one transaction.
  absl::StatusOr<std::vector<RegisteredFile>> Register(
      const TxOptions& options,
      const std::vector<const metad::v1::FileSpec*>& specs,
      const std::vector<std::string>& request_ids,
      const std::vector<ChangeIntent>& intents = {});

  // NOT_FOUND if no file has that id.
  absl::StatusOr<metad::v1::File> Get(const TxOptions& options, int64_t id);

  // NOT_FOUND if no file has that (source, file_name).
  absl::StatusOr<metad::v1::File> GetByName(const TxOptions& options,
                                            const std::string& source,
                                            const std::string& file_name);

  // Up to `limit` files matching `filter` with id > after_id, by id
  // ascending. Returns OK (possibly empty).
  absl::StatusOr<std::vector<metad::v1::File>> List(const TxOptions& options,
                                                    const FileFilter& filter,
                                                    int64_t after_id,
                                                    int limit);

  // Moves up to `limit` NEW files (of `source` only, unless it is empty) to
  // PROCESSING under run `run_id`, skipping files other transactions hold,
  // and appends a CLAIMED event for each. Returns them by id ascending
  // (possibly none). With a request_id the claim is recorded, and a later
  // call of the run with the same request_id (a retry) returns the files of
  // the first that the run still holds (replayed) instead of claiming more.
  //   NOT_FOUND           no such run;
  //   FAILED_PRECONDITION the run is not PROCESSING or its lease lapsed;
  //   ALREADY_EXISTS      request_id was used in this run for a claim with
  //                       another source or limit.
  absl::StatusOr<ClaimResult> Claim(const TxOptions& options, int64_t run_id,
                                    const std::string& source, int limit,
                                    const std::string& request_id = "");

  // Claim for several calls of distinct runs in one transaction: the calls
  // of one source share one statement (one SKIP LOCKED scan for their total
  // limit; the files, by id, fill the first call's limit, then the next).
  // Each call is answered as Claim would answer it alone (a refusal of one
  // does not touch the others), in the order of `calls`. ABORTED for the
  // whole batch (nothing done) when it cannot be answered together: two
  // calls of one run, or a concurrent call with the same request_id
  // recorded its claim first; the caller then runs the calls one by one.
  // Besides: Database::Transact's codes.
  absl::StatusOr<std::vector<absl::StatusOr<ClaimResult>>> ClaimMany(
      const TxOptions& options, const std::vector<const ClaimCall*>& calls);

  // Records the outcome (SUCCESS or ERROR) of a file held by a live run and
  // appends a COMPLETED event. When the file already has that outcome (and
  // message) from this run, nothing changes and the answer is replayed,
  // even if the run has ended since: a retry after a lost answer.
  //   NOT_FOUND           no such file, or no such run;
  //   FAILED_PRECONDITION the run has ended or its lease lapsed, the file is
  //                       not PROCESSING, or another run holds it.
  absl::StatusOr<CompleteResult> Complete(const TxOptions& options,
                                          int64_t file_id, int64_t run_id,
                                          metad::v1::FileStatus status,
                                          const std::string& error_message);

  // Sends an ERROR file back to NEW (no run, no error message) and appends a
  // RESET event carrying `reason`.
  //   NOT_FOUND           no such file;
  //   FAILED_PRECONDITION the file is not ERROR (the message names its
  //                       status).
  absl::StatusOr<metad::v1::File> Reset(const TxOptions& options,
                                        int64_t file_id,
                                        const std::string& reason);

  // ReprocessFiles by ids (1..1000, duplicates allowed): every file must be
  // SUCCESS or ERROR; all go back to NEW (no run, no error message) with a
  // REPROCESSED event carrying `reason` and `actor`, or none does.
  //   NOT_FOUND           an id names no file (the first such in `ids`);
  //   FAILED_PRECONDITION a file is NEW or PROCESSING (FILE_NOT_FINAL, the
  //                       first such in `ids`).
  absl::StatusOr<Reprocessed> ReprocessIds(const TxOptions& options,
                                           const std::vector<int64_t>& ids,
                                           const std::string& reason,
                                           const std::string& actor);

  // ReprocessFiles by filter: up to `limit` SUCCESS or ERROR files matching
  // `filter`, oldest id first, skipping files other transactions hold, each
  // like ReprocessIds; `more` when the filter still matches files. OK.
  absl::StatusOr<Reprocessed> ReprocessFiltered(const TxOptions& options,
                                                const ReprocessFilter& filter,
                                                int limit,
                                                const std::string& reason,
                                                const std::string& actor);

  // Up to `limit` events with id > after_id, by id ascending: of one file,
  // or of every file when file_id is 0.
  //   NOT_FOUND           file_id names no file.
  absl::StatusOr<std::vector<metad::v1::FileEvent>> ListEvents(
      const TxOptions& options, int64_t file_id, int64_t after_id, int limit);

 private:
  Database* db_;
};

}  // namespace metad::store

#endif  // METAD_STORE_FILE_STORE_H_
