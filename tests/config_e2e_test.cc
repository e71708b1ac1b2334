// `metad serve --config FILE --print-config` on the built binary: the
// effective values with their sources, secrets masked, exit 0 without
// serving; a bad file or value refused with exit 2 naming file:line and key.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/daemon_process.h"

namespace metad::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `metad serve <args>` with only `env` in its environment.
Result RunMetad(const std::string& env, const std::string& args) {
  std::string command = "env -i PATH=/usr/bin:/bin " + env + " " + BinDir() +
                        "/metad serve " + args + " 2>&1";
  Result result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), n);
  }
  int status = pclose(pipe);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ConfigE2eTest, PrintConfigShowsSourcesMasksSecretsAndExits) {
  std::string path =
      WriteFile("metad_e2e.conf",
                "# test\n"
                "listen = 127.0.0.1:1\n"
                "pool_size = 3\n"
                "database = postgresql://metad:hunter2@db.example:5432/metad\n"
                "drain = 4\n");
  Result r = RunMetad("METAD_POOL_SIZE=5 METAD_LOG_LEVEL=warn",
                      "--config " + path + " --drain=7 --print-config");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("hunter2")));
  EXPECT_THAT(r.output, HasSubstr("postgresql://metad:****@db.example"));
  EXPECT_THAT(r.output, ::testing::ContainsRegex(
                            "listen = 127.0.0.1:1 +# file " + path + ":2"));
  EXPECT_THAT(r.output,
              ::testing::ContainsRegex("pool_size = 5 +# env METAD_POOL_SIZE"));
  EXPECT_THAT(r.output, ::testing::ContainsRegex("drain = 7 +# flag"));
  EXPECT_THAT(r.output, ::testing::ContainsRegex("log_level = warn +# env"));
  EXPECT_THAT(r.output,
              ::testing::ContainsRegex("max_queued_calls = 1024 +# default"));
  // It printed and left: no serving line, no database contacted.
  EXPECT_THAT(r.output, Not(HasSubstr("\"serving\"")));
}

TEST(ConfigE2eTest, ConfigFileFromEnvironment) {
  std::string path = WriteFile("metad_env.conf", "pool_size = 9\n");
  Result r = RunMetad("METAD_CONFIG=" + path, "--print_config");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("# config file: " + path + " (env METAD_CONFIG)"));
  EXPECT_THAT(r.output, ::testing::ContainsRegex("pool_size = 9 +# file"));
}

TEST(ConfigE2eTest, UnknownKeyIsRefusedWithFileLineAndKey) {
  std::string path =
      WriteFile("metad_bad.conf", "listen = 127.0.0.1:1\npool = 3\n");
  Result r = RunMetad("", "--config " + path + " --print-config");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(path + ":2: unknown key \"pool\""));
}

TEST(ConfigE2eTest, BadValueIsRefusedWithFileLineAndKey) {
  std::string path =
      WriteFile("metad_badvalue.conf", "# x\nwatch_mode = sometimes\n");
  Result r = RunMetad("", "--config " + path + " --print-config");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--watch_mode (file " + path +
                                  ":2): must be notify or poll"));
}

TEST(ConfigE2eTest, MissingFileIsRefused) {
  Result r = RunMetad("", "--config /nonexistent/metad.conf --print-config");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("cannot read /nonexistent/metad.conf"));
}

TEST(ConfigE2eTest, TheExampleFileIsValid) {
  Result r = RunMetad("", std::string("--config ") + METAD_SOURCE_DIR +
                              "/deploy/metad.conf.example --print-config");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("metad.conf.example:"));
}

}  // namespace
}  // namespace metad::testing
