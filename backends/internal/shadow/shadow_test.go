package shadow

import (
	"strings"
	"testing"
)

func TestNewNames(t *testing.T) {
	t.Parallel()

	t.Run("Short", func(t *testing.T) {
		t.Parallel()
		got := NewNames("vec_vector", "_embedding_idx")
		want := Names{
			Live: "vec_vector", Shadow: "vec_vector_shadow",
			LiveIndex: "vec_vector_embedding_idx", ShadowIndex: "vec_vector_shadow_embedding_idx",
			LivePkey: "vec_vector_pkey", indexSuffix: "_embedding_idx",
		}
		if got != want {
			t.Fatalf("NewNames = %+v, want %+v", got, want)
		}
	})

	t.Run("TruncatedAsPostgresDoes", func(t *testing.T) {
		t.Parallel()
		live := "vec_" + strings.Repeat("v", 40)
		got := NewNames(live, "_embedding_idx")
		if len(got.ShadowIndex) != 63 || !strings.HasPrefix(live+"_shadow_embedding_idx", got.ShadowIndex) {
			t.Fatalf("ShadowIndex = %q", got.ShadowIndex)
		}
		if got.LiveIndex != live+"_embedding_idx" || got.Shadow != live+"_shadow" {
			t.Fatalf("names = %+v", got)
		}
		// The longest name and generation still fit: distinct generations keep distinct names.
		if r := got.Retired(2147483647); r != live+"_retired_2147483647" || len(r) > 63 {
			t.Fatalf("Retired = %q", r)
		}
	})
}

func TestReserved(t *testing.T) {
	t.Parallel()

	for name, want := range map[string]bool{
		"vector":                 false,
		"shadow":                 false,
		"shadowed":               false,
		"my_shadowfax":           false,
		"x_shadow":               true,
		"x_shadow_pkey":          true,
		"x_shadow_embedding_idx": true,
		"x_shadow_document_idx":  true,
		"a_shadow_b":             true,
		"retired":                false,
		"x_retiredness":          false,
		"x_retired":              true,
		"x_retired_2":            true,
	} {
		if got := Reserved(name); got != want {
			t.Errorf("Reserved(%q) = %v, want %v", name, got, want)
		}
	}
}
