// Helpers every command group shares: status reporting, printing, paging.
#include "clients/cpp/commands.h"
#include "clients/cpp/status_details.h"

#include "absl/strings/str_cat.h"
#include "metad/client/selector.h"

namespace metad::metactl {

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "CODE_" + std::to_string(static_cast<int>(code));
  }
}

int Fail(Context& ctx, const grpc::Status& status) {
  *ctx.err << "metactl: " << CodeName(status.error_code()) << ": "
           << status.error_message() << "\n";
  for (const std::string& line : DescribeDetails(status)) {
    *ctx.err << "  " << line << "\n";
  }
  // Scripts get the whole google.rpc.Status (code, message, details) as the
  // JSON document on stdout.
  if (ctx.json()) PrintJson(RpcStatusOf(status), *ctx.out);
  int code = static_cast<int>(status.error_code());
  // A code outside 1..16 must still fail, and never look like a usage error.
  return code >= 1 && code <= 16 ? code : static_cast<int>(grpc::UNKNOWN);
}

int Show(Context& ctx, const grpc::Status& status,
         const google::protobuf::Message& message,
         const std::function<void(std::ostream&)>& print_table) {
  if (!status.ok()) return Fail(ctx, status);
  if (ctx.json()) {
    PrintJson(message, *ctx.out);
  } else {
    print_table(*ctx.out);
  }
  return 0;
}

std::vector<Flag> PagingFlags() {
  return {{"page-size", "N", "results per page (1..1000; default 100)"},
          {"page-token", "TOKEN", "continue from a previous page"},
          {"all", "", "fetch every page"}};
}

std::vector<Flag> WithPaging(std::vector<Flag> flags) {
  for (Flag& f : PagingFlags()) flags.push_back(std::move(f));
  return flags;
}

int64_t ParseId(const std::string& what, const std::string& text) {
  return ParseInt(what, text, 1, std::numeric_limits<int64_t>::max());
}

std::string SelectorArg(const ParsedArgs& args,
                        const std::string& term_flag) {
  std::vector<client::SelectorTerm> terms;
  for (const std::string& text : args.GetAll(term_flag)) {
    terms.push_back(client::ParseSelectorTerm(text));
  }
  std::string selector = client::Selector(terms);
  if (args.Has("selector")) {
    if (!selector.empty()) selector += ',';
    selector += args.Get("selector");
  }
  return selector;
}

std::vector<Flag> WithSelector(std::vector<Flag> flags,
                               const std::string& term_flag,
                               const std::string& what) {
  flags.push_back({term_flag, "KEY[=VALUE]",
                   absl::StrCat("only those with this ", what,
                                " (=VALUE: holding exactly it); repeat: all "
                                "must match"),
                   true});
  flags.push_back({"selector", "SELECTOR",
                   absl::StrCat("a ", what,
                                " selector as the API takes it: k=v,k2 "
                                "('\\' escapes)")});
  return flags;
}

}  // namespace metad::metactl
