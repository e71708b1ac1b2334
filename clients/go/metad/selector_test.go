package metad

import "testing"

func TestSelectorEscapes(t *testing.T) {
	v, sp := "x=y", " v "
	got := Selector(SelectorTerm{Key: "env", Value: strPtr("prod")},
		SelectorTerm{Key: "sha"}, SelectorTerm{Key: "a,b", Value: &v},
		SelectorTerm{Key: "sp", Value: &sp})
	if want := `env=prod,sha,a\,b=x\=y,sp=\ v\ `; got != want {
		t.Fatalf("Selector: %q, want %q", got, want)
	}
	if got := MatchLabels(map[string]string{"b": "2", "a": "1"}); got != "a=1,b=2" {
		t.Fatalf("MatchLabels: %q", got)
	}
}

func strPtr(s string) *string { return &s }
