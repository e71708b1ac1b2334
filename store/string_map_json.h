// String maps (run labels, file attributes) as the JSON objects of strings
// their jsonb columns hold. Built and parsed by protobuf's JSON support,
// never by hand.
#ifndef METAD_STORE_STRING_MAP_JSON_H_
#define METAD_STORE_STRING_MAP_JSON_H_

#include <google/protobuf/map.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace metad::store {

// "{}" for an empty map. The strings must be valid UTF-8 (validated by the
// daemon before they reach the store).
std::string StringMapJson(
    const google::protobuf::Map<std::string, std::string>& map);

// Parses a JSON object (jsonb's text) into *out; a value that is not a
// string (only a hand-edited row holds one) is shown as its JSON. `what`
// names the column in the error for an unreadable value.
absl::Status ReadStringMapJson(
    const char* json, const char* what,
    google::protobuf::Map<std::string, std::string>* out);

// One term of a label or attribute selector: the key must be present and,
// with a value, hold exactly it. A selector is a list of terms, all of which
// must match (AND); its keys are distinct (daemon/rpc/selector.h).
struct MapTerm {
  std::string key;
  std::optional<std::string> value;  // none: "key exists"
};

// The parameters a store binds for a selector over a jsonb column:
//   ($n::jsonb IS NULL OR col @> $n::jsonb)         -- the key=value terms
//   AND ($m::text[] IS NULL OR col ?& $m::text[])   -- the "key" terms
// Both NULL for an empty selector, so the terms fold away in a custom plan;
// either is served by a GIN (jsonb_ops) index on the column.
struct MapMatchParams {
  std::optional<std::string> contains;  // a JSON object of strings
  std::optional<std::string> has_keys;  // a text[] literal
};
MapMatchParams MapMatch(const std::vector<MapTerm>& terms);

// How many matches run.list_selected and file.list_selected collect
// before they give way to the key-ordered statement. Sorting this many
// costs a few ms; a selector with more matches is dense enough for the
// primary-key walk (docs/benchmarks.md, session 9).
inline constexpr int kSelectorProbeLimit = 5000;

// Whether a *.list_selected answer is the whole page: it found at most
// kSelectorProbeLimit matches (`hits`, on every row; no row: none).
template <typename Result>
bool SelectorProbeAnswered(const Result& r) {
  return r.empty() ||
         r[0]["hits"].template as<int64_t>() <= kSelectorProbeLimit;
}

}  // namespace metad::store

#endif  // METAD_STORE_STRING_MAP_JSON_H_
