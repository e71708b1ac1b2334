// metactl watch files|runs: WatchService from a shell. Prints each event as
// it commits (a table row, or one JSON object per line) until interrupted
// (SIGINT or SIGTERM: exit 0) or --limit events; reconnects by itself when
// the daemon goes away, from the last event printed.
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cpp/commands.h"
#include "clients/cpp/interrupt.h"
#include "clients/cpp/views.h"

namespace metad::metactl {
namespace {

std::string IdOrDash(int64_t id) { return id == 0 ? "-" : absl::StrCat(id); }

// Tells stderr why the stream broke; the stream then reconnects.
client::WatchOptions Options(Context& ctx) {
  client::WatchOptions options;
  options.on_reconnect = [&ctx](const grpc::Status& status,
                                absl::Duration pause) {
    *ctx.err << "metactl: watch: " << CodeName(status.error_code()) << ": "
             << status.error_message()
             << absl::StrFormat("; reconnecting in %.1fs\n",
                                absl::ToDoubleSeconds(pause));
    ctx.err->flush();
  };
  return options;
}

// Prints events until the stream ends, --limit is reached or a signal
// cancels it; the exit code.
template <typename Event>
int Follow(Context& ctx, const ParsedArgs& args,
           client::WatchStream<Event>& stream, const StreamTable& table,
           const std::function<std::vector<std::string>(const Event&)>& row) {
  const int64_t limit =
      args.GetInt("limit", 0, 0, std::numeric_limits<int64_t>::max());
  OnInterrupt interrupt([&stream] { stream.Cancel(); });
  if (!ctx.json()) {
    table.PrintHeader(*ctx.out);
    ctx.out->flush();
  }
  Event event;
  for (int64_t n = 0; limit == 0 || n < limit; ++n) {
    if (!stream.Next(&event)) {
      grpc::Status status = stream.status();
      return status.ok() ? 0 : Fail(ctx, status);
    }
    if (ctx.json()) {
      PrintJson(event, *ctx.out);
    } else {
      table.PrintRow(*ctx.out, row(event));
    }
    ctx.out->flush();
  }
  return 0;
}

int64_t After(const ParsedArgs& args) {
  return args.GetInt("after", 0, -1, std::numeric_limits<int64_t>::max());
}

int WatchFiles(Context& ctx, const ParsedArgs& args) {
  v1::WatchFilesRequest request;
  request.set_after_event_id(After(args));
  request.set_source(args.Get("source"));
  if (args.Has("status")) {
    request.set_status(ParseFileStatus("--status", args.Get("status")));
  }
  if (args.Has("file"))
    request.set_file_id(ParseId("--file", args.Get("file")));
  request.set_attribute_selector(SelectorArg(args, "attr"));
  auto stream = ctx.client->WatchFiles(request, Options(ctx));
  StreamTable table({"ID", "FILE", "SOURCE", "NAME", "KIND", "FROM", "TO",
                     "RUN", "TIME", "MESSAGE"},
                    {6, 6, 10, 24, 10, 10, 10, 5, 20});
  return Follow<v1::WatchedFileEvent>(
      ctx, args, *stream, table, [](const v1::WatchedFileEvent& w) {
        const v1::FileEvent& e = w.event();
        return std::vector<std::string>{absl::StrCat(e.id()),
                                        absl::StrCat(e.file_id()),
                                        w.source(),
                                        w.file_name(),
                                        e.kind(),
                                        StatusName(e.from_status()),
                                        StatusName(e.to_status()),
                                        IdOrDash(e.run_id()),
                                        FormatTime(e.event_time()),
                                        e.message()};
      });
}

int WatchRuns(Context& ctx, const ParsedArgs& args) {
  v1::WatchRunsRequest request;
  request.set_after_event_id(After(args));
  request.set_batch_id(args.Get("batch"));
  request.set_task(args.Get("task"));
  if (args.Has("status")) {
    request.set_status(ParseRunStatus("--status", args.Get("status")));
  }
  if (args.Has("run")) request.set_run_id(ParseId("--run", args.Get("run")));
  request.set_label_selector(SelectorArg(args, "label"));
  auto stream = ctx.client->WatchRuns(request, Options(ctx));
  StreamTable table(
      {"ID", "RUN", "TASK", "BATCH", "KIND", "FROM", "TO", "TIME", "MESSAGE"},
      {6, 5, 16, 10, 8, 10, 10, 20});
  return Follow<v1::WatchedRunEvent>(
      ctx, args, *stream, table, [](const v1::WatchedRunEvent& w) {
        const v1::RunEvent& e = w.event();
        return std::vector<std::string>{absl::StrCat(e.id()),
                                        absl::StrCat(e.run_id()),
                                        w.task_name(),
                                        w.batch_id(),
                                        e.kind(),
                                        StatusName(e.from_status()),
                                        StatusName(e.to_status()),
                                        FormatTime(e.event_time()),
                                        e.message()};
      });
}

std::vector<Flag> CommonFlags(std::vector<Flag> flags) {
  flags.insert(
      flags.begin(),
      {{"after", "ID",
        "start after event ID (the last one seen, to resume); -1: every "
        "event stored; default 0: only new events"},
       {"limit", "N", "exit 0 after N events (default: run until Ctrl-C)"}});
  return flags;
}

}  // namespace

std::vector<Command> WatchCommands() {
  return {
      {"watch", "files", "",
       "Print file events as they commit, until interrupted (Ctrl-C: exit "
       "0). Reconnects by itself from the last event printed; OUT_OF_RANGE "
       "(exit 11) when the history to resume from was pruned.",
       WithSelector(
           CommonFlags({{"source", "SOURCE", "only files of this source"},
                        {"status", "STATUS",
                         "only events that moved a file to STATUS (new, "
                         "processing, success, error)"},
                        {"file", "ID", "only events of this file"}}),
           "attr", "attribute"),
       0, 0, WatchFiles},
      {"watch", "runs", "",
       "Print run events (STARTED, FINISHED, EXPIRED, ...) as they commit, "
       "until interrupted; reconnects like watch files.",
       WithSelector(
           CommonFlags({{"batch", "BATCH", "only runs of this batch"},
                        {"task", "TASK", "only runs of this task"},
                        {"status", "STATUS",
                         "only events that moved a run to STATUS "
                         "(processing, success, error)"},
                        {"run", "ID", "only events of this run"}}),
           "label", "label"),
       0, 0, WatchRuns},
  };
}

}  // namespace metad::metactl
