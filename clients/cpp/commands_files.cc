// metactl files ...: FileService from a shell.
#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "clients/cpp/commands.h"
#include "clients/cpp/views.h"

namespace metad::metactl {
namespace {

constexpr size_t kBatchChunk = 1000;  // RegisterFiles' limit per call

void AddAttributes(const std::vector<std::string>& pairs, v1::FileSpec* spec) {
  for (const std::string& kv : pairs) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError(
          absl::StrCat("--attr: expected KEY=VALUE, got '", kv, "'"));
    }
    (*spec->mutable_attributes())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
}

int Register(Context& ctx, const ParsedArgs& args) {
  v1::RegisterFileRequest request;
  v1::FileSpec* spec = request.mutable_file();
  spec->set_source(args.positional()[0]);
  spec->set_file_name(args.positional()[1]);
  spec->set_checksum(args.Get("checksum"));
  spec->set_size_bytes(
      args.GetInt("size", 0, 0, std::numeric_limits<int64_t>::max()));
  spec->set_row_count(
      args.GetInt("rows", 0, 0, std::numeric_limits<int64_t>::max()));
  AddAttributes(args.GetAll("attr"), spec);
  request.set_request_id(args.Get("request-id"));
  if (args.Has("reprocess")) {
    request.set_change_policy(v1::CHANGE_POLICY_REPROCESS);
  }
  v1::RegisterFileResponse response;
  grpc::Status status = ctx.client->RegisterFile(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Record r = FileRecord(response.file());
    r.Add("created", response.created() ? "true" : "false");
    r.Add("changed", response.changed() ? "true" : "false");
    r.Print(out);
  });
}

// One line of register-batch input: a JSON FileSpec when it starts with
// '{', else SOURCE<TAB>FILE_NAME. Throws UsageError naming the line.
v1::FileSpec ParseSpecLine(const std::string& line, size_t line_number) {
  v1::FileSpec spec;
  const std::string where = absl::StrCat("stdin line ", line_number);
  if (!line.empty() && line[0] == '{') {
    auto status = google::protobuf::util::JsonStringToMessage(line, &spec);
    if (!status.ok()) {
      throw UsageError(absl::StrCat(where, ": not a FileSpec JSON object: ",
                                    std::string(status.message())));
    }
    return spec;
  }
  size_t tab = line.find('\t');
  if (tab == std::string::npos) {
    throw UsageError(absl::StrCat(
        where, ": expected SOURCE<TAB>FILE_NAME or a JSON object"));
  }
  spec.set_source(line.substr(0, tab));
  spec.set_file_name(line.substr(tab + 1));
  return spec;
}

int RegisterBatch(Context& ctx, const ParsedArgs& args) {
  const v1::ChangePolicy policy = args.Has("reprocess")
                                      ? v1::CHANGE_POLICY_REPROCESS
                                      : v1::CHANGE_POLICY_UNSPECIFIED;
  std::vector<v1::FileSpec> specs;
  std::string line;
  size_t line_number = 0;
  try {
    while (std::getline(*ctx.in, line)) {
      ++line_number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (absl::StripAsciiWhitespace(line).empty()) continue;
      specs.push_back(ParseSpecLine(line, line_number));
    }
  } catch (const UsageError& e) {
    *ctx.err << "metactl: " << e.what() << "\n";
    return kExitDataErr;
  }
  v1::RegisterFilesResponse all;
  for (size_t start = 0; start < specs.size(); start += kBatchChunk) {
    v1::RegisterFilesRequest request;
    size_t end = std::min(specs.size(), start + kBatchChunk);
    for (size_t i = start; i < end; ++i) *request.add_files() = specs[i];
    request.set_change_policy(policy);
    v1::RegisterFilesResponse response;
    grpc::Status status = ctx.client->RegisterFiles(request, &response);
    if (!status.ok()) {
      // Earlier chunks are committed: say how far we got.
      *ctx.err << "metactl: lines for files " << start + 1 << ".." << end
               << " failed; " << start << " registered before\n";
      return Fail(ctx, status);
    }
    all.set_created_count(all.created_count() + response.created_count());
    all.set_changed_count(all.changed_count() + response.changed_count());
    for (auto& r : *response.mutable_results()) {
      *all.add_results() = std::move(r);
    }
  }
  return Show(ctx, grpc::Status::OK, all, [&](std::ostream& out) {
    Table t({"ID", "SOURCE", "FILE_NAME", "STATUS", "CREATED", "CHANGED"});
    for (const auto& r : all.results()) {
      t.AddRow({absl::StrCat(r.file().id()), r.file().source(),
                r.file().file_name(), StatusName(r.file().status()),
                r.created() ? "true" : "false",
                r.changed() ? "true" : "false"});
    }
    t.Print(out);
    out << all.results_size() << " files, " << all.created_count() << " new, "
        << all.changed_count() << " changed\n";
  });
}

int Get(Context& ctx, const ParsedArgs& args) {
  v1::GetFileRequest request;
  if (!args.positional().empty()) {
    if (args.Has("source") || args.Has("name")) {
      throw UsageError("give either ID or --source and --name");
    }
    request.set_id(ParseId("ID", args.positional()[0]));
  } else if (args.Has("source") && args.Has("name")) {
    request.set_source(args.Get("source"));
    request.set_file_name(args.Get("name"));
  } else {
    throw UsageError("give either ID or --source and --name");
  }
  v1::File file;
  grpc::Status status = ctx.client->GetFile(request, &file);
  return Show(ctx, status, file,
              [&](std::ostream& out) { FileRecord(file).Print(out); });
}

int List(Context& ctx, const ParsedArgs& args) {
  v1::ListFilesRequest request;
  if (args.Has("status")) {
    request.set_status(ParseFileStatus("--status", args.Get("status")));
  }
  request.set_source(args.Get("source"));
  if (args.Has("run")) request.set_run_id(ParseId("--run", args.Get("run")));
  if (args.Has("created-after")) {
    *request.mutable_created_after() =
        ParseTime("--created-after", args.Get("created-after"));
  }
  if (args.Has("created-before")) {
    *request.mutable_created_before() =
        ParseTime("--created-before", args.Get("created-before"));
  }
  request.set_attribute_selector(SelectorArg(args, "attr"));
  return ListPages<v1::ListFilesRequest, v1::ListFilesResponse>(
      ctx, args, request, &client::Client::ListFiles,
      [](const v1::ListFilesResponse& r, std::ostream& out) {
        FilesTable(r.files()).Print(out);
      });
}

int Claim(Context& ctx, const ParsedArgs& args) {
  if (!args.Has("limit")) throw UsageError("--limit is required");
  v1::ClaimFilesRequest request;
  request.set_run_id(ParseId("RUN", args.positional()[0]));
  // The server enforces 1..1000; pass what was asked so it names the rule.
  request.set_limit(static_cast<int32_t>(
      args.GetInt("limit", 0, std::numeric_limits<int32_t>::min(),
                  std::numeric_limits<int32_t>::max())));
  request.set_source(args.Get("source"));
  request.set_request_id(args.Get("request-id"));
  v1::ClaimFilesResponse response;
  grpc::Status status = ctx.client->ClaimFiles(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    FilesTable(response.files()).Print(out);
  });
}

int Complete(Context& ctx, const ParsedArgs& args) {
  if (!args.Has("run")) throw UsageError("--run is required");
  if (!args.Has("status")) throw UsageError("--status is required");
  v1::CompleteFileRequest request;
  request.set_file_id(ParseId("FILE", args.positional()[0]));
  request.set_run_id(ParseId("--run", args.Get("run")));
  request.set_status(ParseFileStatus("--status", args.Get("status")));
  request.set_error_message(args.Get("message"));
  v1::CompleteFileResponse response;
  grpc::Status status = ctx.client->CompleteFile(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    FileRecord(response.file()).Print(out);
  });
}

int Reset(Context& ctx, const ParsedArgs& args) {
  v1::ResetFileRequest request;
  request.set_file_id(ParseId("FILE", args.positional()[0]));
  request.set_reason(args.Get("reason"));
  v1::ResetFileResponse response;
  grpc::Status status = ctx.client->ResetFile(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    FileRecord(response.file()).Print(out);
  });
}

int Reprocess(Context& ctx, const ParsedArgs& args) {
  v1::ReprocessFilesRequest request;
  for (const std::string& id : args.positional()) {
    request.add_file_ids(ParseId("FILE", id));
  }
  if (args.Has("status")) {
    request.set_status(ParseFileStatus("--status", args.Get("status")));
  }
  request.set_source(args.Get("source"));
  if (args.Has("run")) request.set_run_id(ParseId("--run", args.Get("run")));
  if (args.Has("producer")) {
    request.set_producer_run_id(ParseId("--producer", args.Get("producer")));
  }
  if (args.Has("updated-after")) {
    *request.mutable_updated_after() =
        ParseTime("--updated-after", args.Get("updated-after"));
  }
  if (args.Has("updated-before")) {
    *request.mutable_updated_before() =
        ParseTime("--updated-before", args.Get("updated-before"));
  }
  // The server enforces 0..1000; pass what was asked so it names the rule.
  request.set_limit(static_cast<int32_t>(
      args.GetInt("limit", 0, std::numeric_limits<int32_t>::min(),
                  std::numeric_limits<int32_t>::max())));
  request.set_reason(args.Get("reason"));
  v1::ReprocessFilesResponse response;
  grpc::Status status = ctx.client->ReprocessFiles(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Table t({"ID"});
    for (int64_t id : response.file_ids()) t.AddRow({absl::StrCat(id)});
    t.Print(out);
    out << response.file_ids_size() << " files back to NEW"
        << (response.more() ? "; more match: run again" : "") << "\n";
  });
}

int Events(Context& ctx, const ParsedArgs& args) {
  v1::ListFileEventsRequest request;
  if (!args.positional().empty()) {
    request.set_file_id(ParseId("FILE", args.positional()[0]));
  }
  return ListPages<v1::ListFileEventsRequest, v1::ListFileEventsResponse>(
      ctx, args, request, &client::Client::ListFileEvents,
      [](const v1::ListFileEventsResponse& r, std::ostream& out) {
        FileEventsTable(r.events()).Print(out);
      });
}

}  // namespace

std::vector<Command> FileCommands() {
  return {
      {"files",
       "register",
       "SOURCE NAME",
       "Register a file, or show the stored one (created: false). A known "
       "file given another checksum or size gets a new version (changed: "
       "true).",
       {{"checksum", "C", "content checksum, e.g. sha256:..."},
        {"size", "N", "size in bytes"},
        {"rows", "N", "number of rows"},
        {"attr", "KEY=VALUE", "an attribute", true},
        {"request-id", "ID", "idempotency key (default: generated)"},
        {"reprocess", "",
         "if the content changed, send a SUCCESS or ERROR file back to NEW"}},
       2,
       2,
       Register},
      {"files",
       "register-batch",
       "",
       "Register files read from stdin, one per line: SOURCE<TAB>FILE_NAME, "
       "or a FileSpec JSON object such as {\"source\":\"s3://b\","
       "\"file_name\":\"a.csv\",\"size_bytes\":10}. Sent in chunks of 1000 "
       "(one transaction each). Malformed input exits 65 before any call.",
       {{"reprocess", "",
         "files whose content changed go back to NEW if SUCCESS or ERROR"}},
       0,
       0,
       RegisterBatch},
      {"files",
       "get",
       "[ID]",
       "Show a file by id, or by --source and --name.",
       {{"source", "SOURCE", "the file's source"},
        {"name", "NAME", "the file's name within the source"}},
       0,
       1,
       Get},
      {"files", "list", "", "List files by id, filtered.",
       WithPaging(WithSelector(
           {{"status", "STATUS", "new, processing, success or error"},
            {"source", "SOURCE", "only this source"},
            {"run", "RUN", "only files of this run"},
            {"created-after", "TIME", "RFC 3339, inclusive"},
            {"created-before", "TIME", "RFC 3339, exclusive"}},
           "attr", "attribute")),
       0, 0, List},
      {"files",
       "claim",
       "RUN",
       "Move up to --limit NEW files to PROCESSING, held by run RUN.",
       {{"limit", "N", "how many files at most (1..1000; required)"},
        {"source", "SOURCE", "only files of this source"},
        {"request-id", "ID",
         "idempotency key: the same key in the same run returns the same "
         "files (default: generated)"}},
       1,
       1,
       Claim},
      {"files",
       "complete",
       "FILE",
       "End one file held by a run: success or error.",
       {{"run", "RUN", "the run holding the file (required)"},
        {"status", "STATUS", "success or error (required)"},
        {"message", "TEXT", "error message"}},
       1,
       1,
       Complete},
      {"files",
       "reset",
       "FILE",
       "Send an ERROR file back to NEW for reprocessing.",
       {{"reason", "TEXT", "note recorded in the file's event"}},
       1,
       1,
       Reset},
      {"files",
       "reprocess",
       "[FILE...]",
       "Send SUCCESS or ERROR files back to NEW (admin): the files named, "
       "all or none, or up to --limit files matching the filters, oldest "
       "first. Run again while it says more match.",
       {{"status", "STATUS", "success or error (default: both)"},
        {"source", "SOURCE", "only this source"},
        {"run", "RUN", "only files processed by this run"},
        {"producer", "RUN", "only files this run produced"},
        {"updated-after", "TIME", "RFC 3339, inclusive"},
        {"updated-before", "TIME", "RFC 3339, exclusive"},
        {"limit", "N", "files per call by filter (1..1000; default 1000)"},
        {"reason", "TEXT", "note recorded in each file's event"}},
       0,
       1000,
       Reprocess},
      {"files", "events", "[FILE]",
       "The audit trail of file state changes (of one file, or all).",
       PagingFlags(), 0, 1, Events},
  };
}

}  // namespace metad::metactl
