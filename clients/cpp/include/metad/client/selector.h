// Label and attribute selectors (ListRunsRequest.label_selector,
// ListFilesRequest.attribute_selector and the watch requests'): "k=v,k2"
// means k holds exactly v AND k2 is present. Selector() writes one from
// terms, escaping ',', '=', '\' and spaces at either end with '\'.
#ifndef METAD_CLIENT_SELECTOR_H_
#define METAD_CLIENT_SELECTOR_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace metad::client {

// One term: the key must hold `value`, or (no value) merely be present.
struct SelectorTerm {
  std::string key;
  std::optional<std::string> value;
};

// The selector string of `terms` ("" for none).
std::string Selector(const std::vector<SelectorTerm>& terms);

// A term as written on a command line: "k=v" (the first '=' splits) or "k".
SelectorTerm ParseSelectorTerm(const std::string& text);

}  // namespace metad::client

#endif  // METAD_CLIENT_SELECTOR_H_
