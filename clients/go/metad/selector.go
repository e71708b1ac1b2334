package metad

import (
	"sort"
	"strings"
)

// SelectorTerm is one term of a label or attribute selector: Key must hold
// exactly *Value, or (Value nil) merely be present.
type SelectorTerm struct {
	Key   string
	Value *string
}

// Selector writes the selector string of terms for
// ListRunsRequest.LabelSelector, ListFilesRequest.AttributeSelector and the
// watch requests: "k=v,k2" means k holds exactly v AND k2 is present. ',',
// '=', '\' and spaces at either end of a key or value are escaped with '\'.
func Selector(terms ...SelectorTerm) string {
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		part := escapeSelector(t.Key)
		if t.Value != nil {
			part += "=" + escapeSelector(*t.Value)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ",")
}

// MatchLabels is Selector for key=value terms, in key order.
func MatchLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	terms := make([]SelectorTerm, 0, len(keys))
	for _, k := range keys {
		v := labels[k]
		terms = append(terms, SelectorTerm{Key: k, Value: &v})
	}
	return Selector(terms...)
}

func escapeSelector(s string) string {
	var b strings.Builder
	for i, c := range s {
		edgeSpace := c == ' ' && (i == 0 || i == len(s)-1)
		if c == ',' || c == '=' || c == '\\' || edgeSpace {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
