// A small streaming JSON writer for the status page's API. Strings are
// escaped so that the output is also safe inside HTML (<, >, & and the JS
// line separators become \u escapes): a response that ends up rendered as
// HTML by mistake still cannot carry markup.
#ifndef METAD_DAEMON_HTTP_JSON_WRITER_H_
#define METAD_DAEMON_HTTP_JSON_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace metad::daemon {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object: the next value's key.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  JsonWriter& OptionalInt(const std::optional<int64_t>& value) {
    return value.has_value() ? Int(*value) : Null();
  }

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();

  std::string out_;
  // Per open container: whether it already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

// `text` as a JSON string literal, quotes included, escaped as above.
// Bytes that are not valid UTF-8 become U+FFFD.
std::string JsonQuoteHtmlSafe(std::string_view text);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_HTTP_JSON_WRITER_H_
