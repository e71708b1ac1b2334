// metactl's commands: each group (files, tasks, runs, batch, deps) lists its
// commands in its own commands_<group>.cc; cli.cc finds and runs them.
#ifndef METAD_CLIENTS_CPP_COMMANDS_H_
#define METAD_CLIENTS_CPP_COMMANDS_H_

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "clients/cpp/args.h"
#include "clients/cpp/output.h"
#include "metad/client/metad_client.h"

namespace metad::metactl {

struct Context {
  client::Client* client = nullptr;
  OutputFormat format = OutputFormat::kTable;
  std::istream* in = &std::cin;
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;
  bool json() const { return format == OutputFormat::kJson; }
};

inline constexpr size_t kMany = std::numeric_limits<size_t>::max();

struct Command {
  std::string group;  // "files"
  std::string name;   // "register"
  std::string args;   // "SOURCE NAME", shown in usage
  std::string summary;
  std::vector<Flag> flags;
  size_t min_args = 0;
  size_t max_args = 0;
  // Returns the exit code.
  std::function<int(Context&, const ParsedArgs&)> run;
};

std::vector<Command> FileCommands();
std::vector<Command> TaskCommands();
std::vector<Command> RunCommands();      // runs ... and batch show
std::vector<Command> RunVerbCommands();  // runs cancel, runs rerun
std::vector<Command> DepCommands();
std::vector<Command> AdminCommands();
std::vector<Command> DeadlineCommands();  // batch deadline, sources, alerts
// metactl lineage, and runs outputs (commands_lineage.cc).
std::vector<Command> LineageCommands();
// metactl watch files|runs (commands_watch.cc).
std::vector<Command> WatchCommands();

// "NOT_FOUND", "FAILED_PRECONDITION", ...
std::string CodeName(grpc::StatusCode code);

// Prints "metactl: CODE_NAME: message" and returns the numeric code.
int Fail(Context& ctx, const grpc::Status& status);

// On success prints `message` as JSON, or as a table through
// `print_table`; returns the exit code.
int Show(Context& ctx, const grpc::Status& status,
         const google::protobuf::Message& message,
         const std::function<void(std::ostream&)>& print_table);

// Flags every list command takes: --page-size, --page-token, --all.
std::vector<Flag> PagingFlags();
// `flags` followed by PagingFlags().
std::vector<Flag> WithPaging(std::vector<Flag> flags);

// The selector of a list or watch command: each --TERM_FLAG ("k=v" or "k",
// repeated; escaped as needed) and --selector (as written), joined with ','.
std::string SelectorArg(const ParsedArgs& args, const std::string& term_flag);
// `flags` followed by --TERM_FLAG (repeated) and --selector, for `what`
// ("label" / "attribute").
std::vector<Flag> WithSelector(std::vector<Flag> flags,
                               const std::string& term_flag,
                               const std::string& what);

// A positive id given as `what` (e.g. "RUN", "--run"); UsageError otherwise.
int64_t ParseId(const std::string& what, const std::string& text);

// Runs a paged list: one page (--page-size, --page-token), or with --all
// every page merged into one response (printed as one JSON object, whose
// next_page_token is empty). In table mode a further page is announced on
// stderr with the --page-token to pass.
template <typename Request, typename Response>
int ListPages(
    Context& ctx, const ParsedArgs& args, Request request,
    grpc::Status (client::Client::*method)(const Request&, Response*),
    const std::function<void(const Response&, std::ostream&)>& print_table) {
  request.set_page_size(
      static_cast<int32_t>(args.GetInt("page-size", 0, 0, 1000)));
  request.set_page_token(args.Get("page-token"));
  const bool all = args.Has("all");
  Response merged;
  for (;;) {
    Response page;
    grpc::Status status = (ctx.client->*method)(request, &page);
    if (!status.ok()) return Fail(ctx, status);
    std::string next = page.next_page_token();
    merged.MergeFrom(page);
    if (!all || next.empty()) break;
    request.set_page_token(next);
  }
  if (all) merged.clear_next_page_token();
  if (ctx.json()) {
    PrintJson(merged, *ctx.out);
    return 0;
  }
  print_table(merged, *ctx.out);
  if (!merged.next_page_token().empty()) {
    *ctx.err << "more results: add --page-token " << merged.next_page_token()
             << " (or --all)\n";
  }
  return 0;
}

}  // namespace metad::metactl

#endif  // METAD_CLIENTS_CPP_COMMANDS_H_
