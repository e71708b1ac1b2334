#include "store/fence_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace metad::store {
namespace {

// One line: `<system identifier> <timeline>`.
constexpr char kFormat[] = "a line \"<system identifier> <timeline>\"";

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

bool WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

absl::StatusOr<FenceState> LoadFenceState(const std::string& path) {
  if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) return FenceState{};
  std::ifstream in(path);
  if (!in) return Errno("cannot read the fence state file", path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string content(absl::StripAsciiWhitespace(text.str()));
  if (content.empty()) return FenceState{};
  std::vector<std::string> fields =
      absl::StrSplit(content, ' ', absl::SkipWhitespace());
  FenceState state;
  uint64_t system = 0;
  if (fields.size() != 2 || !absl::SimpleAtoi(fields[0], &system) ||
      !absl::SimpleAtoi(fields[1], &state.timeline) || state.timeline <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the fence state file ", path, " is not ", kFormat,
                     "; remove it only if the database cluster was replaced"));
  }
  state.system_id = fields[0];
  return state;
}

absl::Status SaveFenceState(const std::string& path, const FenceState& state) {
  const std::string tmp = path + ".tmp";
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot write", tmp);
  const std::string line =
      absl::StrCat(state.system_id, " ", state.timeline, "\n");
  const bool ok = WriteAll(fd, line) && fsync(fd) == 0;
  close(fd);
  if (!ok) return Errno("cannot write", tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return Errno("cannot replace", path);
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);  // the rename itself; best effort
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace metad::store
