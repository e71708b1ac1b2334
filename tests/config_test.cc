// FlagSet's config file: format, precedence (flag > env > file > default),
// errors naming file:line and key, and --print-config's masking.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "daemon/app/flags.h"
#include "daemon/app/serve_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace metad::daemon {
namespace {

using ::testing::HasSubstr;

std::vector<FlagSpec> Specs() {
  return {
      {"listen", "METAD_CFGTEST_LISTEN", "127.0.0.1:1", "address"},
      {"pool_size", "METAD_CFGTEST_POOL_SIZE", "8", "connections"},
      {"auto_migrate", "METAD_CFGTEST_AUTO_MIGRATE", "true", "migrate", true},
      {"database", "METAD_CFGTEST_DATABASE", "", "url", false, Mask::kUrl},
      {"api_token", "", "", "a secret", false, Mask::kSecret},
      {"config", "", "", "the file", false, Mask::kNone, true},
  };
}

// Parses `args` (after a fake "metad serve") into `flags`.
absl::Status ParseArgs(FlagSet* flags, std::vector<std::string> args) {
  std::vector<char*> argv = {const_cast<char*>("metad"),
                             const_cast<char*>("serve")};
  for (std::string& a : args) argv.push_back(a.data());
  std::vector<std::string> positional;
  return flags->Parse(static_cast<int>(argv.size()), argv.data(), 2,
                      &positional);
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name :
         {"METAD_CFGTEST_LISTEN", "METAD_CFGTEST_POOL_SIZE",
          "METAD_CFGTEST_AUTO_MIGRATE", "METAD_CFGTEST_DATABASE"}) {
      unsetenv(name);
    }
  }
};

TEST_F(ConfigTest, FileSetsValuesWithCommentsQuotesAndDashes) {
  FlagSet flags(Specs());
  ASSERT_TRUE(ParseArgs(&flags, {}).ok());
  absl::Status s = flags.ParseConfigText(
      "# a comment\n"
      "\n"
      "  listen = 0.0.0.0:50051   # trailing comment\n"
      "pool-size=16\n"
      "auto_migrate = false\n"
      "database = \"postgresql://u@h/db#x\"  # quoted keeps #\n",
      "m.conf");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(flags.Get("listen"), "0.0.0.0:50051");
  EXPECT_EQ(flags.Get("pool_size"), "16");
  EXPECT_EQ(*flags.GetBool("auto_migrate"), false);
  EXPECT_EQ(flags.Get("database"), "postgresql://u@h/db#x");
  EXPECT_EQ(flags.Source("listen"), "file m.conf:3");
  EXPECT_EQ(flags.Source("pool_size"), "file m.conf:4");
  EXPECT_EQ(flags.Source("api_token"), "default");
}

TEST_F(ConfigTest, PrecedenceIsFlagThenEnvThenFileThenDefault) {
  setenv("METAD_CFGTEST_LISTEN", "10.0.0.1:1", 1);
  setenv("METAD_CFGTEST_POOL_SIZE", "4", 1);
  FlagSet flags(Specs());
  ASSERT_TRUE(ParseArgs(&flags, {"--pool_size=2"}).ok());
  ASSERT_TRUE(flags
                  .ParseConfigText("listen = 1.1.1.1:1\npool_size = 3\n"
                                   "auto_migrate = false\n",
                                   "m.conf")
                  .ok());
  EXPECT_EQ(flags.Get("pool_size"), "2");  // flag over env and file
  EXPECT_EQ(flags.Source("pool_size"), "flag");
  EXPECT_EQ(flags.Get("listen"), "10.0.0.1:1");  // env over file
  EXPECT_EQ(flags.Source("listen"), "env METAD_CFGTEST_LISTEN");
  EXPECT_EQ(flags.Get("auto_migrate"), "false");  // file over default
  EXPECT_EQ(flags.Get("database"), "");           // default
  EXPECT_EQ(flags.Source("database"), "default");
  unsetenv("METAD_CFGTEST_LISTEN");
  unsetenv("METAD_CFGTEST_POOL_SIZE");
}

TEST_F(ConfigTest, RefusesBadLinesNamingFileLineAndKey) {
  struct Case {
    std::string text;
    std::string message;
  } cases[] = {
      {"listen = a\nbogus = 1\n", "m.conf:2: unknown key \"bogus\""},
      {"\n\nlisten 1\n", "m.conf:3: expected `key = value`"},
      {" = 1\n", "m.conf:1: expected `key = value`"},
      {"listen = a\nlisten = b\n", "m.conf:2: key \"listen\" repeated"},
      {"config = other.conf\n",
       "m.conf:1: key \"config\" is allowed on the command line only"},
      {"listen = \"abc\n", "m.conf:1: key \"listen\": unterminated quote"},
      {"listen = \"a\" b\n",
       "m.conf:1: key \"listen\": text after the closing quote"},
  };
  for (const Case& c : cases) {
    FlagSet flags(Specs());
    absl::Status s = flags.ParseConfigText(c.text, "m.conf");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_EQ(s.message(), c.message) << c.text;
  }
}

TEST_F(ConfigTest, BadValueFromFileNamesKeyAndFileLine) {
  FlagSet flags(Specs());
  ASSERT_TRUE(
      flags.ParseConfigText("listen = x\npool_size = many\n", "/etc/m.conf")
          .ok());
  auto pool = flags.GetInt("pool_size", 1, 1000);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pool.status().message(),
              HasSubstr("--pool_size (file /etc/m.conf:2): must be an integer "
                        "from 1 to 1000 (got \"many\")"));
}

TEST_F(ConfigTest, BadValueFromEnvNamesTheVariable) {
  setenv("METAD_CFGTEST_AUTO_MIGRATE", "perhaps", 1);
  FlagSet flags(Specs());
  auto value = flags.GetBool("auto_migrate");
  unsetenv("METAD_CFGTEST_AUTO_MIGRATE");
  ASSERT_FALSE(value.ok());
  EXPECT_THAT(value.status().message(),
              HasSubstr("--auto_migrate (env METAD_CFGTEST_AUTO_MIGRATE)"));
}

TEST_F(ConfigTest, UnreadableFileIsRefused) {
  FlagSet flags(Specs());
  absl::Status s = flags.LoadConfigFile("/nonexistent/metad.conf");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent/metad.conf"));
}

TEST_F(ConfigTest, LoadsARealFile) {
  std::string path = ::testing::TempDir() + "/config_test.conf";
  std::ofstream(path) << "pool_size = 5\n";
  FlagSet flags(Specs());
  ASSERT_TRUE(flags.LoadConfigFile(path).ok());
  EXPECT_EQ(*flags.GetInt("pool_size", 1, 10), 5);
  EXPECT_EQ(flags.Source("pool_size"), "file " + path + ":1");
}

TEST_F(ConfigTest, PrintConfigMasksSecretsAndReparses) {
  FlagSet flags(Specs());
  ASSERT_TRUE(ParseArgs(&flags, {"--database=postgresql://u:hunter2@h/db",
                                 "--api_token", "s3cret", "--config=x"})
                  .ok());
  std::string out = flags.PrintConfig();
  EXPECT_THAT(out, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("s3cret")));
  EXPECT_THAT(out, HasSubstr("postgresql://u:****@h/db"));
  EXPECT_THAT(out, HasSubstr("api_token = ****"));
  EXPECT_THAT(out, HasSubstr("# flag"));
  EXPECT_THAT(out, HasSubstr("pool_size = 8"));
  EXPECT_THAT(out, HasSubstr("# default"));
  // Command-line-only keys are left out, so the output is a valid file.
  EXPECT_THAT(out, ::testing::Not(HasSubstr("config =")));
  FlagSet again(Specs());
  absl::Status s = again.ParseConfigText(out, "printed");
  ASSERT_TRUE(s.ok()) << s << "\n" << out;
  EXPECT_EQ(again.Get("api_token"), "****");
  EXPECT_EQ(again.Get("listen"), "127.0.0.1:1");
  EXPECT_EQ(again.Get("database"), "postgresql://u:****@h/db");
}

TEST_F(ConfigTest, KeyValueDatabaseStringIsMasked) {
  FlagSet flags(Specs());
  ASSERT_TRUE(
      ParseArgs(&flags, {"--database=host=db password=hunter2 user=m"}).ok());
  std::string out = flags.PrintConfig();
  EXPECT_THAT(out, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(out, HasSubstr("password=****"));
}

// `metad serve`'s own flags: ParseServeConfig types every value and refuses
// a bad one naming the flag and the rule.
absl::StatusOr<ServeConfig> ServeConfigOf(std::vector<std::string> args) {
  FlagSet flags(ServeFlags());
  absl::Status parsed = ParseArgs(&flags, std::move(args));
  if (!parsed.ok()) return parsed;
  return ParseServeConfig(flags);
}

TEST(ServeConfig, DefaultsAreTypedValues) {
  absl::StatusOr<ServeConfig> c = ServeConfigOf({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:50051");
  EXPECT_EQ(c->pool_size, 8);
  EXPECT_EQ(c->reaper_interval, absl::Seconds(1));
  EXPECT_EQ(c->watch.mode, WatchMode::kNotify);
  EXPECT_EQ(c->retention, absl::ZeroDuration());
  EXPECT_TRUE(c->auto_migrate);
  EXPECT_TRUE(c->database_url.empty());  // ResolveDatabaseUrls fills it
}

TEST(ServeConfig, ValuesAreParsed) {
  absl::StatusOr<ServeConfig> c = ServeConfigOf(
      {"--pool_size=3", "--watch_mode=poll", "--watch_poll_interval=0.25",
       "--retention=30d", "--reaper_interval=2.5", "--auto_migrate=false"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->pool_size, 3);
  EXPECT_EQ(c->watch.mode, WatchMode::kPoll);
  EXPECT_EQ(c->watch.poll_interval, absl::Milliseconds(250));
  EXPECT_EQ(c->retention, absl::Hours(24 * 30));
  EXPECT_EQ(c->reaper_interval, absl::Milliseconds(2500));
  EXPECT_FALSE(c->auto_migrate);
}

TEST(ServeConfig, BadValuesNameTheFlagAndTheRule) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--pool_size=0", "--pool_size"},
      {"--watch_mode=push", "--watch_mode: must be notify or poll"},
      {"--watch_poll_interval=0", "--watch_poll_interval: must be positive"},
      {"--reaper_interval=0", "--reaper_interval: must be positive"},
      {"--retention=5m", "--retention"},
      {"--retention_interval=0.5",
       "--retention_interval: must be at least 1 second"},
  };
  for (const auto& [arg, message] : cases) {
    absl::StatusOr<ServeConfig> c = ServeConfigOf({arg});
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << arg;
    EXPECT_THAT(c.status().message(), HasSubstr(message)) << arg;
  }
}

}  // namespace
}  // namespace metad::daemon
