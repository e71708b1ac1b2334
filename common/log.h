// Structured logs: one JSON object per line on stderr, one line per event.
// Lives in store/ (the bottom layer) so the store and the daemon share it.
// Never pass secrets (passwords, tokens) as fields.
#ifndef METAD_COMMON_LOG_H_
#define METAD_COMMON_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace metad::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn", "error"; false for anything else.
bool ParseLevel(std::string_view text, Level* level);
void SetLevel(Level level);
bool Enabled(Level level);

// One field of a log line, already encoded as JSON.
class Field {
 public:
  Field(std::string_view key, std::string_view value);
  Field(std::string_view key, const char* value)
      : Field(key, std::string_view(value)) {}
  Field(std::string_view key, const std::string& value)
      : Field(key, std::string_view(value)) {}
  // absl::string_view is not std::string_view in Debian's abseil.
  Field(std::string_view key, absl::string_view value)
      : Field(key, std::string_view(value.data(), value.size())) {}
  Field(std::string_view key, int64_t value);
  Field(std::string_view key, int value) : Field(key, int64_t{value}) {}
  Field(std::string_view key, double value);
  Field(std::string_view key, bool value);

  std::string_view key() const { return key_; }
  const std::string& json() const { return json_; }

 private:
  std::string_view key_;
  std::string json_;
};

// Writes {"ts":..., "level":..., "event": event, fields...} if enabled.
void Write(Level level, std::string_view event,
           std::initializer_list<Field> fields = {});

inline void Info(std::string_view event, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, event, f);
}
inline void Warn(std::string_view event, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, event, f);
}
inline void Error(std::string_view event, std::initializer_list<Field> f = {}) {
  Write(Level::kError, event, f);
}
inline void Debug(std::string_view event, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, event, f);
}

// JSON string escaping (quotes included), shared with other JSON writers.
std::string JsonQuote(std::string_view text);

}  // namespace metad::log

#endif  // METAD_COMMON_LOG_H_
