#include "clients/cpp/cli.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/cpp/commands.h"

namespace metad::metactl {
namespace {

constexpr char kDefaultAddress[] = "127.0.0.1:50051";

std::vector<Flag> GlobalFlags() {
  return {
      {"address", "HOST:PORT",
       "metad to call (default: $METAD_ADDRESS, else 127.0.0.1:50051)"},
      {"timeout", "SECONDS",
       "deadline of each call, retries included (default 10)"},
      {"output", "FORMAT", "table (default) or json"},
      {"token-file", "PATH",
       "send the token in PATH as 'authorization: Bearer <token>'"},
      {"tls", "", "connect with TLS (system roots unless --ca-cert)"},
      {"ca-cert", "PATH", "PEM roots to verify the server (implies --tls)"},
      {"client-cert", "PATH",
       "PEM client certificate for mutual TLS (implies --tls)"},
      {"client-key", "PATH", "PEM key of --client-cert"},
      {"help", "", "show help"},
  };
}

std::vector<Command> AllCommands() {
  std::vector<Command> all;
  for (auto* group : {&FileCommands, &TaskCommands, &RunCommands,
                      &RunVerbCommands, &DepCommands, &AdminCommands,
                      &LineageCommands, &WatchCommands, &DeadlineCommands}) {
    for (Command& c : group()) all.push_back(std::move(c));
  }
  return all;
}

// "files register", or "lineage" for a group that is one command.
std::string Words(const Command& c) {
  return c.name.empty() ? c.group : absl::StrCat(c.group, " ", c.name);
}

std::string Usage(const Command& c) {
  std::string u = absl::StrCat("metactl ", Words(c));
  if (!c.args.empty()) absl::StrAppend(&u, " ", c.args);
  return absl::StrCat(u, " [flags]");
}

void PrintFlags(std::ostream& out, const std::vector<Flag>& flags) {
  for (const Flag& f : flags) {
    std::string left = absl::StrCat("  --", f.name);
    if (!f.value_name.empty()) absl::StrAppend(&left, " ", f.value_name);
    out << left << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ')
        << f.help << (f.repeated ? " (repeatable)" : "") << "\n";
  }
}

void PrintCommandList(std::ostream& out, const std::vector<Command>& commands,
                      const std::string& group) {
  for (const Command& c : commands) {
    if (!group.empty() && c.group != group) continue;
    std::string left = absl::StrCat("  ", Words(c));
    if (!c.args.empty()) absl::StrAppend(&left, " ", c.args);
    // The first sentence.
    size_t end = c.summary.find(". ");
    std::string summary =
        end == std::string::npos ? c.summary : c.summary.substr(0, end + 1);
    out << left << std::string(left.size() < 36 ? 36 - left.size() : 1, ' ')
        << summary << "\n";
  }
}

void PrintTopHelp(std::ostream& out, const std::vector<Command>& commands) {
  out << "usage: metactl [global flags] GROUP COMMAND [args] [flags]\n\n"
         "Calls metad from a shell. Commands:\n";
  PrintCommandList(out, commands, "");
  out << "\nglobal flags (before or after the command):\n";
  PrintFlags(out, GlobalFlags());
  out << "\nexit codes: 0 ok; 1..16 the gRPC status code of a failed call "
         "(5 NOT_FOUND,\n9 FAILED_PRECONDITION, 14 UNAVAILABLE, ...); 64 bad "
         "command line; 65 malformed\nstdin input; 66 unreadable token or "
         "certificate file.\n"
         "Run 'metactl GROUP COMMAND --help' for a command's flags.\n";
}

void PrintGroupHelp(std::ostream& out, const std::vector<Command>& commands,
                    const std::string& group) {
  out << "usage: metactl " << group << " COMMAND [args] [flags]\n\n";
  PrintCommandList(out, commands, group);
  out << "\nRun 'metactl " << group
      << " COMMAND --help' for a command's flags, 'metactl --help' for the "
         "global flags.\n";
}

void PrintCommandHelp(std::ostream& out, const Command& c) {
  out << "usage: " << Usage(c) << "\n\n" << c.summary << "\n";
  if (!c.flags.empty()) {
    out << "\nflags:\n";
    PrintFlags(out, c.flags);
  }
  out << "\nglobal flags:\n";
  PrintFlags(out, GlobalFlags());
}

bool IsGlobalFlagWithValue(const std::string& arg) {
  if (arg.find('=') != std::string::npos) return false;
  for (const Flag& f : GlobalFlags()) {
    if (arg == "--" + f.name) return !f.value_name.empty();
  }
  return false;
}

// Reads a file named by a flag, or returns false after reporting why.
bool ReadFlagFile(const ParsedArgs& parsed, const std::string& flag,
                  std::string* content, std::ostream& err) {
  if (!parsed.Has(flag)) return true;
  absl::StatusOr<std::string> read =
      flag == "token-file" ? client::ReadTokenFile(parsed.Get(flag))
                           : client::ReadFileToString(parsed.Get(flag));
  if (!read.ok()) {
    err << "metactl: --" << flag << ": " << read.status().message() << "\n";
    return false;
  }
  *content = *std::move(read);
  return true;
}

// Fills connection options from the global flags; false after reporting an
// unreadable file. UsageError for inconsistent flags.
bool BuildOptions(const ParsedArgs& parsed, client::ClientOptions* options,
                  std::ostream& err) {
  const char* env_address = std::getenv("METAD_ADDRESS");
  options->address =
      parsed.Get("address", env_address != nullptr && *env_address != '\0'
                                ? env_address
                                : kDefaultAddress);
  if (parsed.Has("timeout")) {
    double seconds = 0;
    if (!absl::SimpleAtod(parsed.Get("timeout"), &seconds) || !(seconds > 0)) {
      throw UsageError(absl::StrCat(
          "--timeout: expected a positive number of seconds, got '",
          parsed.Get("timeout"), "'"));
    }
    options->timeout = absl::Seconds(seconds);
  }
  if (parsed.Has("client-cert") != parsed.Has("client-key")) {
    throw UsageError("--client-cert and --client-key go together");
  }
  options->tls =
      parsed.Has("tls") || parsed.Has("ca-cert") || parsed.Has("client-cert");
  return ReadFlagFile(parsed, "token-file", &options->bearer_token, err) &&
         ReadFlagFile(parsed, "ca-cert", &options->ca_cert_pem, err) &&
         ReadFlagFile(parsed, "client-cert", &options->client_cert_pem, err) &&
         ReadFlagFile(parsed, "client-key", &options->client_key_pem, err);
}

int Dispatch(const std::vector<std::string>& args, std::istream& in,
             std::ostream& out, std::ostream& err, std::string* help_hint) {
  const std::vector<Command> commands = AllCommands();
  std::vector<size_t> word_at;
  bool help = false;
  for (size_t i = 0; i < args.size() && args[i] != "--"; ++i) {
    if (args[i] == "--help") help = true;
    if (args[i].compare(0, 2, "--") == 0) {
      if (word_at.size() < 2 && IsGlobalFlagWithValue(args[i])) ++i;
    } else if (word_at.size() < 2) {
      word_at.push_back(i);
    }
  }
  if (!word_at.empty() && args[word_at[0]] == "help") {
    help = true;
    word_at.erase(word_at.begin());
  }
  if (word_at.empty()) {
    PrintTopHelp(help ? out : err, commands);
    return help ? 0 : kExitUsage;
  }
  const std::string& group = args[word_at[0]];
  std::set<std::string> groups;
  for (const Command& c : commands) groups.insert(c.group);
  if (groups.count(group) == 0) {
    throw UsageError(absl::StrCat("unknown command group '", group,
                                  "' (files, tasks, runs, batch, deps, "
                                  "lineage, watch, admin)"));
  }
  *help_hint = absl::StrCat("metactl ", group, " --help");
  // A group that is one command (metactl lineage --file 3) takes no name.
  const Command* command = nullptr;
  for (const Command& c : commands) {
    if (c.group == group && c.name.empty()) command = &c;
  }
  if (command != nullptr) {
    word_at.resize(1);
  } else if (word_at.size() < 2) {
    PrintGroupHelp(help ? out : err, commands, group);
    return help ? 0 : kExitUsage;
  }
  if (command == nullptr) {
    const std::string& name = args[word_at[1]];
    for (const Command& c : commands) {
      if (c.group == group && c.name == name) command = &c;
    }
    if (command == nullptr) {
      throw UsageError(
          absl::StrCat("unknown command '", group, " ", name, "'"));
    }
  }
  *help_hint = absl::StrCat("metactl ", Words(*command), " --help");
  if (help) {
    PrintCommandHelp(out, *command);
    return 0;
  }

  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (std::find(word_at.begin(), word_at.end(), i) == word_at.end()) {
      rest.push_back(args[i]);
    }
  }
  std::vector<Flag> flags = command->flags;
  for (Flag& f : GlobalFlags()) flags.push_back(std::move(f));
  ParsedArgs parsed = ParseArgs(rest, flags);
  size_t n = parsed.positional().size();
  if (n < command->min_args || n > command->max_args) {
    throw UsageError(absl::StrCat("usage: ", Usage(*command)));
  }

  Context ctx;
  ctx.format = ParseOutputFormat(parsed.Get("output", "table"));
  client::ClientOptions options;
  if (!BuildOptions(parsed, &options, err)) return kExitNoInput;
  client::Client client(options);
  ctx.client = &client;
  ctx.in = &in;
  ctx.out = &out;
  ctx.err = &err;
  return command->run(ctx, parsed);
}

}  // namespace

int RunMetactl(const std::vector<std::string>& args, std::istream& in,
               std::ostream& out, std::ostream& err) {
  std::string help_hint = "metactl --help";
  try {
    int code = Dispatch(args, in, out, err, &help_hint);
    out.flush();
    return code;
  } catch (const UsageError& e) {
    err << "metactl: " << e.what() << "\n(see '" << help_hint << "')\n";
    return kExitUsage;
  }
}

}  // namespace metad::metactl
