#include "daemon/http/process_stats.h"

#include <gtest/gtest.h>

namespace metad::daemon {
namespace {

TEST(ProcessStats, ParsesProcStatWithAnAwkwardName) {
  // Fields 14/15 utime/stime (ticks), 22 starttime (ticks after boot),
  // 23 vsize (bytes), 24 rss (pages); the name holds ") (" and spaces.
  const std::string stat =
      "42 (met) (a d) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 9 0 "
      "1000 123456789 300 18446744073709551615\n";
  auto s = ParseProcStat(stat, 100, 4096, 1.7e9);
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 4.0);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1.7e9 + 10);
  EXPECT_DOUBLE_EQ(s->virtual_bytes, 123456789);
  EXPECT_DOUBLE_EQ(s->resident_bytes, 300.0 * 4096);
  EXPECT_FALSE(ParseProcStat("42 (x) S 1 2", 100, 4096, 0).has_value());
  EXPECT_FALSE(ParseProcStat("no parenthesis", 100, 4096, 0).has_value());
}

TEST(ProcessStats, ReadsThisProcess) {
  auto s = ReadProcessStats();
  ASSERT_TRUE(s.has_value());
  EXPECT_GT(s->resident_bytes, 0);
  EXPECT_GE(s->open_fds, 3);  // stdin, stdout, stderr
  EXPECT_GT(s->start_time_seconds, 1.5e9);
}

}  // namespace
}  // namespace metad::daemon
