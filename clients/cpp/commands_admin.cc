// metactl admin ...: AdminService from a shell (needs an admin token).
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/cpp/commands.h"

namespace metad::metactl {
namespace {

// "30d" (whole days) or a Go-style duration ("720h", "90m").
absl::Duration ParseAge(const std::string& text) {
  absl::Duration age;
  int64_t days = 0;
  if (text.empty()) {
    // falls through to the error
  } else if (text.back() == 'd') {
    if (absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) && days > 0 &&
        days <= 36600) {
      return absl::Hours(24) * days;
    }
  } else if (absl::ParseDuration(text, &age) && age > absl::ZeroDuration()) {
    return age;
  }
  throw UsageError(absl::StrCat(
      "--older-than: must be an age such as 30d or 720h (got \"", text, "\")"));
}

int Prune(Context& ctx, const ParsedArgs& args) {
  if (!args.Has("older-than")) {
    throw UsageError("--older-than is required (e.g. --older-than 90d)");
  }
  absl::Duration age = ParseAge(args.Get("older-than"));
  v1::PruneHistoryRequest request;
  int64_t seconds = absl::IDivDuration(age, absl::Seconds(1), &age);
  request.mutable_older_than()->set_seconds(seconds);
  request.mutable_older_than()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(age)));
  request.set_batch_size(
      static_cast<int32_t>(args.GetInt("batch-size", 0, 0, 10000)));
  request.set_max_batches(
      static_cast<int32_t>(args.GetInt("max-batches", 0, 0, 1000000)));
  request.set_dry_run(args.Has("dry-run"));
  v1::PruneHistoryResponse response;
  grpc::Status status = ctx.client->PruneHistory(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Record r;
    r.Add("cutoff", FormatTime(response.cutoff()));
    r.Add(request.dry_run() ? "runs (would delete)" : "runs deleted",
          absl::StrCat(response.runs_deleted()));
    r.Add("run events", absl::StrCat(response.run_events_deleted()));
    r.Add("file events", absl::StrCat(response.file_events_deleted()));
    r.Add("batches", absl::StrCat(response.batches()));
    r.Add("complete", response.complete() ? "true" : "false");
    r.Print(out);
  });
}

}  // namespace

std::vector<Command> AdminCommands() {
  return {
      {"admin",
       "prune",
       "",
       "Delete finished runs, their events and file events older than an "
       "age, in small batches (files are never deleted; admin token).",
       {{"older-than", "AGE", "required: 90d, 720h, ... (at least 1h)"},
        {"batch-size", "N", "rows per transaction (default 1000)"},
        {"max-batches", "N", "stop after N batches per table (default: all)"},
        {"dry-run", "", "only count what would be deleted"}},
       0,
       0,
       Prune},
  };
}

}  // namespace metad::metactl
