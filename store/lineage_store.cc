#include "store/lineage_store.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "store/queries/file.sql.h"
#include "store/queries/lineage.sql.h"
#include "store/queries/run.sql.h"
#include "store/sql.h"
#include "store/string_map_json.h"

namespace metad::store {
namespace {

using metad::v1::FileSpec;
using metad::v1::LineageEdge;
using metad::v1::LineageEdgeKind;

const char* KindText(LineageEdgeKind kind) {
  switch (kind) {
    case metad::v1::LINEAGE_EDGE_KIND_INPUT:
      return "INPUT";
    case metad::v1::LINEAGE_EDGE_KIND_OUTPUT:
      return "OUTPUT";
    default:
      return "";  // before both
  }
}

LineageEdgeKind KindFromText(const std::string& text) {
  if (text == "INPUT") return metad::v1::LINEAGE_EDGE_KIND_INPUT;
  if (text == "OUTPUT") return metad::v1::LINEAGE_EDGE_KIND_OUTPUT;
  return metad::v1::LINEAGE_EDGE_KIND_UNSPECIFIED;
}

// Registers `specs` as outputs of run `run_id` and links them to it; the
// caller has fenced the run (FenceRun) in `tx`.
absl::StatusOr<std::vector<RegisteredFile>> RecordLocked(
    Tx& tx, int64_t run_id, const std::vector<const FileSpec*>& specs) {
  std::vector<std::string> sources, names, checksums, attributes;
  std::vector<int64_t> sizes, row_counts;
  for (const FileSpec* spec : specs) {
    sources.push_back(spec->source());
    names.push_back(spec->file_name());
    checksums.push_back(spec->checksum());
    sizes.push_back(spec->size_bytes());
    row_counts.push_back(spec->row_count());
    attributes.push_back(StringMapJson(spec->attributes()));
  }
  const std::string sources_literal = TextArrayLiteral(sources);
  const std::string names_literal = TextArrayLiteral(names);
  pqxx::result inserted =
      Exec(tx, sql::kLineageRegisterOutputs, sources_literal, names_literal,
           TextArrayLiteral(checksums), IntArrayLiteral(sizes),
           IntArrayLiteral(row_counts), TextArrayLiteral(attributes),
           TextArrayLiteral(std::vector<std::string>(specs.size())), run_id);
  absl::flat_hash_set<int64_t> created;
  for (const auto& row : inserted) created.insert(row["id"].as<int64_t>());
  // RegisterFiles' read: a fresh snapshot sees what a concurrent registrant
  // committed while the insert waited on it.
  pqxx::result stored = ExecCustomPlan(tx, sql::kFileRegisterRead,
                                       sources_literal, names_literal);
  if (stored.size() != specs.size()) {
    return absl::AbortedError(
        "a file changed while it was being registered; retry");
  }
  ASSIGN_OR_RETURN(std::vector<metad::v1::File> files, ReadFileRows(stored));
  std::vector<RegisteredFile> results;
  std::vector<int64_t> ids;
  results.reserve(files.size());
  for (metad::v1::File& file : files) {
    ids.push_back(file.id());
    // erase: a name repeated in the request is created once, first.
    const bool is_new = created.erase(file.id()) > 0;
    results.push_back(RegisteredFile{std::move(file), is_new});
  }
  Exec(tx, sql::kLineageLinkOutputs, run_id, IntArrayLiteral(ids));
  return results;
}

// File `id`, which exists.
absl::StatusOr<metad::v1::File> ReadOneFile(Tx& tx, int64_t id) {
  ASSIGN_OR_RETURN(
      std::vector<metad::v1::File> files,
      ReadFileRows(Exec(tx, sql::kLineageFiles,
                        IntArrayLiteral(std::vector<int64_t>{id}))));
  if (files.empty()) {
    return absl::AbortedError("a file changed while it was recorded; retry");
  }
  return std::move(files[0]);
}

// The outputs of a replayed FinishRun, as stored (created=false).
absl::StatusOr<std::vector<RegisteredFile>> StoredOutputs(
    Tx& tx, int64_t run_id, const std::string& run_status,
    const std::vector<const FileSpec*>& specs) {
  std::vector<std::string> sources, names;
  for (const FileSpec* spec : specs) {
    sources.push_back(spec->source());
    names.push_back(spec->file_name());
  }
  pqxx::result stored =
      Exec(tx, sql::kLineageOutputsByName, TextArrayLiteral(sources),
           TextArrayLiteral(names));
  if (stored.size() != specs.size()) {
    return RunEndedError(
        run_id, run_status,
        absl::StrCat("run ", run_id,
                     " has ended, without the outputs this call names"));
  }
  ASSIGN_OR_RETURN(std::vector<metad::v1::File> files, ReadFileRows(stored));
  std::vector<RegisteredFile> results;
  for (metad::v1::File& file : files) {
    results.push_back(RegisteredFile{std::move(file), false});
  }
  return results;
}

}  // namespace

LineageStore::LineageStore(Database* db) : db_(db) {}

absl::StatusOr<std::vector<RegisteredFile>> LineageStore::RecordOutputs(
    const TxOptions& options, int64_t run_id,
    const std::vector<const FileSpec*>& specs) {
  std::vector<RegisteredFile> results;
  RETURN_IF_ERROR(db_->Transact(
      "lineage.record_outputs", options, [&](Tx& tx) -> absl::Status {
        RETURN_IF_ERROR(FenceRun(tx, run_id, "record outputs"));
        ASSIGN_OR_RETURN(results, RecordLocked(tx, run_id, specs));
        return absl::OkStatus();
      }));
  return results;
}

absl::StatusOr<FinishWithOutputsResult> LineageStore::FinishRunWithOutputs(
    const TxOptions& options, const FinishRunInput& in,
    const std::vector<const FileSpec*>& specs) {
  FinishWithOutputsResult result;
  // Set when the call is refused with changes that must stay (a lapsed run
  // ended as expired): the transaction commits, the refusal is answered.
  absl::Status refusal;
  RETURN_IF_ERROR(db_->Transact(
      "lineage.finish_with_outputs", options, [&](Tx& tx) -> absl::Status {
        refusal = absl::OkStatus();
        result = FinishWithOutputsResult();
        // The (task, batch) lock before the run's row, as every transition
        // takes them (store/run_store.h); metad_finish_run takes it again.
        Exec(tx, sql::kRunLockRun, in.run_id);
        absl::Status live = FenceRun(tx, in.run_id, "record outputs");
        if (live.ok()) {
          ASSIGN_OR_RETURN(result.outputs, RecordLocked(tx, in.run_id, specs));
          // A refused end rolls the outputs back with it.
          ASSIGN_OR_RETURN(result.finish, FinishRunInTx(tx, in));
          // An output the run also held (it rewrote an input) took the
          // run's outcome with the end: answer it as it is now.
          for (RegisteredFile& output : result.outputs) {
            if (output.file.status() == metad::v1::FILE_STATUS_PROCESSING &&
                output.file.run_id() == in.run_id) {
              ASSIGN_OR_RETURN(output.file, ReadOneFile(tx, output.file.id()));
            }
          }
          return absl::OkStatus();
        }
        if (absl::IsNotFound(live)) return live;
        // Not live: no output is recorded; FinishRun says why (and ends a
        // lapsed run), or answers a replay of a call that took effect.
        absl::StatusOr<FinishRunResult> finish = FinishRunInTx(tx, in);
        if (!finish.ok()) {
          refusal = finish.status();
          return absl::OkStatus();
        }
        result.finish = *std::move(finish);
        ASSIGN_OR_RETURN(
            result.outputs,
            StoredOutputs(tx, in.run_id,
                          RunStatusText(result.finish.run.status()), specs));
        return absl::OkStatus();
      }));
  RETURN_IF_ERROR(refusal);
  return result;
}

absl::StatusOr<LineagePage> LineageStore::GetLineage(const TxOptions& options,
                                                     const LineageQuery& query,
                                                     const LineageKey& after,
                                                     int32_t page_size,
                                                     bool with_start) {
  std::optional<int64_t> start_file, start_run;
  if (query.file_id > 0) {
    start_file = query.file_id;
  } else {
    start_run = query.run_id;
  }
  LineagePage page;
  RETURN_IF_ERROR(
      db_->Transact("lineage.get", options, [&](Tx& tx) -> absl::Status {
        page = LineagePage();
        Exec(tx, sql::kLineageReadOnly);
        if (start_file &&
            Exec(tx, sql::kLineageFileExists, *start_file).empty()) {
          return NotFoundResourceError(
              resource::kFile, absl::StrCat(*start_file),
              absl::StrCat("file ", *start_file, ": no such file"));
        }
        if (start_run && Exec(tx, sql::kLineageRunExists, *start_run).empty()) {
          return NotFoundResourceError(
              resource::kRun, absl::StrCat(*start_run),
              absl::StrCat("run ", *start_run, " not found"));
        }
        pqxx::result r =
            Exec(tx, sql::kLineagePage, start_file, start_run, query.upstream,
                 query.downstream, query.max_depth, query.max_edges,
                 after.depth, std::string(KindText(after.kind)), after.run_id,
                 after.file_id, page_size + 1);
        page.truncated = !r.empty() && r[0]["truncated"].as<bool>();
        std::vector<int64_t> file_ids, run_ids;
        if (start_file && with_start) {
          file_ids.push_back(*start_file);
          page.start_file_id = *start_file;
        }
        if (start_run && with_start) {
          run_ids.push_back(*start_run);
          page.start_run_id = *start_run;
        }
        for (const pqxx::row& row : r) {
          if (row["depth"].is_null()) continue;  // a page without edges
          if (static_cast<int32_t>(page.edges.size()) == page_size) {
            page.more = true;
            break;
          }
          LineageEdge& edge = page.edges.emplace_back();
          edge.set_depth(row["depth"].as<int32_t>());
          edge.set_kind(KindFromText(row["kind"].as<std::string>()));
          edge.set_run_id(row["run_id"].as<int64_t>());
          edge.set_file_id(row["file_id"].as<int64_t>());
          file_ids.push_back(edge.file_id());
          run_ids.push_back(edge.run_id());
        }
        for (auto* ids : {&file_ids, &run_ids}) {
          std::sort(ids->begin(), ids->end());
          ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
        }
        if (!file_ids.empty()) {
          ASSIGN_OR_RETURN(page.files,
                           ReadFileRows(Exec(tx, sql::kLineageFiles,
                                             IntArrayLiteral(file_ids))));
        }
        if (!run_ids.empty()) {
          page.runs = ReadRunRows(
              Exec(tx, sql::kLineageRuns, IntArrayLiteral(run_ids)));
        }
        return absl::OkStatus();
      }));
  return page;
}

}  // namespace metad::store
