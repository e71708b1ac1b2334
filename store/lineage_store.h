// Outputs and lineage: the files a run produced (RecordOutputs, FinishRun
// with outputs) and the graph of runs and files around one file or one run
// (GetLineage). Statements in store/queries/lineage.sql, the walk in
// migrations/functions/60_lineage.sql.
//
// An output is registered as RegisterFiles registers a file (dedupe by
// (source, file_name), created only by the first registration, a REGISTERED
// event), and then linked to the run: a run_outputs row and a PRODUCED file
// event the first time the run records it. A file this call creates gets
// producer_run_id = the run; a known file keeps its own (NULL included).
// Recording is fenced like every write of a run: the run's row is locked
// FOR SHARE while it is checked PROCESSING with a live lease, so it cannot
// end before the outputs commit; otherwise nothing is recorded.
//
// Inputs are validated by the caller (daemon/services); the schema's CHECK
// constraints are the backstop.
#ifndef METAD_STORE_LINEAGE_STORE_H_
#define METAD_STORE_LINEAGE_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "metad/v1/files.pb.h"
#include "metad/v1/task_log.pb.h"
#include "store/database.h"
#include "store/file_store.h"
#include "store/run_store.h"

namespace metad::store {

// FinishRun with outputs: the run's end and the outputs registered.
struct FinishWithOutputsResult {
  FinishRunResult finish;
  // One per output spec, in order.
  std::vector<RegisteredFile> outputs;
};

// Where GetLineage starts and how far it walks.
struct LineageQuery {
  int64_t file_id = 0;  // exactly one of file_id and run_id is positive
  int64_t run_id = 0;
  bool upstream = true;
  bool downstream = true;
  int32_t max_depth = 3;
  // The walk stops after this many edges (LineagePage::truncated).
  int32_t max_edges = 100000;
};

// Keyset position in the walk's order (depth, kind, run_id, file_id); the
// zero key is before every edge.
struct LineageKey {
  int32_t depth = 0;
  metad::v1::LineageEdgeKind kind = metad::v1::LINEAGE_EDGE_KIND_UNSPECIFIED;
  int64_t run_id = 0;
  int64_t file_id = 0;
};

struct LineagePage {
  std::vector<metad::v1::LineageEdge> edges;
  // The files and runs the edges name (and the start, when asked), by id.
  std::vector<metad::v1::File> files;
  std::vector<metad::v1::Run> runs;
  // True when there are edges after this page.
  bool more = false;
  // True when the walk hit LineageQuery::max_edges: the graph is cut.
  bool truncated = false;
  // The start, when the page carries it (with_start); 0 otherwise.
  int64_t start_file_id = 0;
  int64_t start_run_id = 0;
};

class LineageStore {
 public:
  explicit LineageStore(Database* db);

  // Registers `specs` (1..1000) as outputs of run `run_id`, in one
  // transaction, all or nothing. One result per spec, in order; a name
  // repeated in the request is created once, by its first occurrence.
  // Returns, besides Database::Transact's codes:
  //   NOT_FOUND           no such run;
  //   FAILED_PRECONDITION the run has ended or its lease lapsed (RUN_ENDED,
  //                       LEASE_EXPIRED): nothing is recorded.
  absl::StatusOr<std::vector<RegisteredFile>> RecordOutputs(
      const TxOptions& options, int64_t run_id,
      const std::vector<const metad::v1::FileSpec*>& specs);

  // FinishRun with outputs, in one transaction: when the run is live its
  // outputs are recorded (as RecordOutputs) and then it ends as FinishRun
  // ends it (store::FinishRunInTx); if the end is refused, the outputs are
  // not recorded either. When the run is not live, no output is recorded
  // and the answer is FinishRun's (a refusal, committing what it changed:
  // a lapsed run is ended as expired); should that answer be OK (a replay
  // of a call that already took effect), the outputs are answered as stored.
  // Returns FinishRun's codes (RunStore::FinishRun).
  absl::StatusOr<FinishWithOutputsResult> FinishRunWithOutputs(
      const TxOptions& options, const FinishRunInput& in,
      const std::vector<const metad::v1::FileSpec*>& specs);

  // The page of the walk `query` after `after` (at most `page_size` edges),
  // with the files and runs its edges name, plus the start itself when
  // `with_start`. Read-only; the walk is one statement, so one snapshot.
  //   NOT_FOUND  the start file or run does not exist (ResourceInfo).
  absl::StatusOr<LineagePage> GetLineage(const TxOptions& options,
                                         const LineageQuery& query,
                                         const LineageKey& after,
                                         int32_t page_size, bool with_start);

 private:
  Database* db_;
};

}  // namespace metad::store

#endif  // METAD_STORE_LINEAGE_STORE_H_
