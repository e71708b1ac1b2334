// metactl's command line: flag parsing, usage errors (exit 64), help.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <sstream>

#include "clients/cpp/args.h"
#include "clients/cpp/cli.h"

namespace metad::metactl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<Flag> kFlags = {
    {"limit", "N", "how many"},
    {"attr", "K=V", "attribute", true},
    {"all", "", "everything"},
};

TEST(ParseArgs, ValuesInBothFormsAndPositionalsInOrder) {
  ParsedArgs p = ParseArgs(
      {"a", "--limit", "5", "b", "--all", "--attr=x=1", "--attr", "y=2", "c"},
      kFlags);
  EXPECT_THAT(p.positional(), ElementsAre("a", "b", "c"));
  EXPECT_EQ(p.Get("limit"), "5");
  EXPECT_EQ(p.GetInt("limit", 0, 1, 10), 5);
  EXPECT_TRUE(p.Has("all"));
  EXPECT_THAT(p.GetAll("attr"), ElementsAre("x=1", "y=2"));
  EXPECT_FALSE(p.Has("missing"));
  EXPECT_EQ(p.Get("missing", "dflt"), "dflt");
  EXPECT_EQ(p.GetInt("missing", 7, 1, 10), 7);
}

TEST(ParseArgs, DoubleDashEndsFlags) {
  ParsedArgs p = ParseArgs({"--", "--limit", "-x"}, kFlags);
  EXPECT_THAT(p.positional(), ElementsAre("--limit", "-x"));
  EXPECT_FALSE(p.Has("limit"));
}

TEST(ParseArgs, SingleDashIsPositional) {
  ParsedArgs p = ParseArgs({"-5", "-"}, kFlags);
  EXPECT_THAT(p.positional(), ElementsAre("-5", "-"));
}

TEST(ParseArgs, RefusesUnknownFlag) {
  EXPECT_THROW(ParseArgs({"--nope"}, kFlags), UsageError);
}

TEST(ParseArgs, RefusesMissingValue) {
  try {
    ParseArgs({"--limit"}, kFlags);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--limit needs a value"));
  }
}

TEST(ParseArgs, RefusesValueOnBooleanFlag) {
  EXPECT_THROW(ParseArgs({"--all=yes"}, kFlags), UsageError);
}

TEST(ParseArgs, RefusesConflictingRepeatOfSingleFlag) {
  EXPECT_THROW(ParseArgs({"--limit", "1", "--limit", "2"}, kFlags), UsageError);
  EXPECT_EQ(ParseArgs({"--limit", "1", "--limit=1"}, kFlags).Get("limit"), "1");
}

TEST(ParseInt, RangeAndSyntax) {
  EXPECT_EQ(ParseInt("N", "42", 0, 100), 42);
  EXPECT_EQ(ParseInt("N", "-3", -5, 0), -3);
  EXPECT_THROW(ParseInt("N", "4x", 0, 100), UsageError);
  EXPECT_THROW(ParseInt("N", "", 0, 100), UsageError);
  EXPECT_THROW(ParseInt("N", "101", 0, 100), UsageError);
  EXPECT_THROW(ParseInt("N", "99999999999999999999", 0, 100), UsageError);
  try {
    ParseInt("--limit", "0", 1, 1000);
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--limit: 0 is out of range [1, 1000]");
  }
}

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result Call(std::vector<std::string> args, const std::string& input = "") {
  std::istringstream in(input);
  std::ostringstream out, err;
  // Nothing listens here: a test that reaches the network fails with 14.
  args.insert(args.begin(), {"--address", "127.0.0.1:1", "--timeout", "2"});
  int code = RunMetactl(args, in, out, err);
  return {code, out.str(), err.str()};
}

TEST(RunMetactl, NoArgumentsPrintsHelpToStderrAndExits64) {
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunMetactl({}, in, out, err), kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("usage: metactl"));
  EXPECT_EQ(out.str(), "");
}

TEST(RunMetactl, HelpAtEveryLevelExitsZero) {
  Result top = Call({"--help"});
  EXPECT_EQ(top.code, 0);
  EXPECT_THAT(top.out, HasSubstr("files register SOURCE NAME"));
  EXPECT_THAT(top.out, HasSubstr("deps graph"));
  EXPECT_THAT(top.out, HasSubstr("--token-file"));

  Result group = Call({"runs", "--help"});
  EXPECT_EQ(group.code, 0);
  EXPECT_THAT(group.out, HasSubstr("runs start TASK"));
  EXPECT_THAT(group.out, ::testing::Not(HasSubstr("files register")));

  Result command = Call({"files", "register", "--help"});
  EXPECT_EQ(command.code, 0);
  EXPECT_THAT(command.out, HasSubstr("usage: metactl files register SOURCE"));
  EXPECT_THAT(command.out, HasSubstr("--attr KEY=VALUE"));
  EXPECT_THAT(command.out, HasSubstr("--address"));

  EXPECT_EQ(Call({"help"}).code, 0);
}

TEST(RunMetactl, EveryCommandHasHelp) {
  Result top = Call({"--help"});
  std::istringstream lines(top.out);
  std::string line;
  int commands = 0;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string group, name;
    if (line.rfind("  ", 0) != 0 || line.rfind("  --", 0) == 0) continue;
    words >> group >> name;
    // A group that is one command (lineage): the summary follows.
    if (!name.empty() && std::isupper(static_cast<unsigned char>(name[0]))) {
      name.clear();
    }
    Result r =
        name.empty() ? Call({group, "--help"}) : Call({group, name, "--help"});
    EXPECT_EQ(r.code, 0) << group << " " << name;
    EXPECT_THAT(r.out, HasSubstr("usage: metactl " + group +
                                 (name.empty() ? "" : " " + name)));
    ++commands;
  }
  // files 9, tasks 6, runs 9 + batch 1, deps 8, admin 1, lineage 1, watch 2,
  // batch deadline, sources freshness, alerts list
  EXPECT_EQ(commands, 40);
}

TEST(RunMetactl, UsageErrorsExit64WithMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"nope"}, "unknown command group 'nope'"},
      {{"files", "nope"}, "unknown command 'files nope'"},
      {{"files", "register", "only-source"}, "usage: metactl files register"},
      {{"files", "register", "s", "n", "--size", "-1"}, "--size"},
      {{"files", "register", "s", "n", "--attr", "novalue"}, "--attr"},
      {{"files", "get"}, "give either ID or --source and --name"},
      {{"files", "get", "abc"}, "ID: expected an integer"},
      {{"files", "get", "0"}, "ID: 0 is out of range"},
      {{"files", "claim", "1"}, "--limit is required"},
      {{"files", "list", "--status", "bogus"},
       "--status: expected one of new, processing, success, error"},
      {{"files", "list", "--created-after", "yesterday"}, "--created-after"},
      {{"files", "list", "--page-size", "1001"}, "--page-size"},
      {{"files", "complete", "1", "--run", "2"}, "--status is required"},
      {{"runs", "start", "t"}, "--batch is required"},
      {{"runs", "finish", "1", "--status", "processing2"}, "--status"},
      {{"runs", "finish", "1"}, "--status is required"},
      {{"deps", "list", "t"}, "give exactly one of --parents and --children"},
      {{"deps", "list", "t", "--parents", "--children"}, "give exactly one"},
      {{"deps", "plan"}, "usage: metactl deps plan"},
      {{"deps", "ready"}, "--batch is required"},
      {{"deps", "graph", "--format", "svg"}, "--format: only dot is supported"},
      {{"tasks", "list", "--output", "yaml"}, "--output"},
      {{"tasks", "list", "--timeout", "0"}, "--timeout"},
      {{"tasks", "list", "--client-cert", "x"},
       "--client-cert and --client-key go together"},
      {{"tasks", "list", "--bogus"}, "unknown flag --bogus"},
  };
  for (const Case& c : cases) {
    Result r = Call(c.args);
    EXPECT_EQ(r.code, kExitUsage) << c.args[0] << " " << r.err;
    EXPECT_THAT(r.err, HasSubstr("metactl: " + c.message)) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(RunMetactl, UnreadableTokenFileExits66) {
  Result r = Call({"tasks", "list", "--token-file", "/nonexistent/token"});
  EXPECT_EQ(r.code, kExitNoInput);
  EXPECT_THAT(r.err, HasSubstr("--token-file: /nonexistent/token"));
}

TEST(RunMetactl, MalformedBatchInputExits65BeforeAnyCall) {
  Result r = Call({"files", "register-batch"}, "s\ta.csv\nno tab here\n");
  EXPECT_EQ(r.code, kExitDataErr);
  EXPECT_THAT(r.err, HasSubstr("stdin line 2"));
  Result json = Call({"files", "register-batch"}, "{\"bogus\": 1}\n");
  EXPECT_EQ(json.code, kExitDataErr);
  EXPECT_THAT(json.err, HasSubstr("stdin line 1: not a FileSpec"));
}

TEST(RunMetactl, UnreachableDaemonExits14) {
  Result r = Call({"tasks", "list"});
  EXPECT_EQ(r.code, 14);
  EXPECT_THAT(r.err, HasSubstr("metactl: UNAVAILABLE: "));
}

}  // namespace
}  // namespace metad::metactl
