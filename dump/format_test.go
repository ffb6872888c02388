package dump

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestAppendCompact: the compaction of PostgreSQL's json and jsonb text is what json.Compact
// writes, strings with spaces, quotes, backslashes and escapes included.
func TestAppendCompact(t *testing.T) {
	t.Parallel()
	inputs := []string{
		`{}`, `[]`, `"a b"`, `1.50`, `null`,
		`{"a": 1, "b": [1, 2, {"c": "d e"}], "f": null, "g": true}`,
		`{"q": "say \"hi\" ", "bs": "C:\\dir\\", "both": "\\\" x", "esc": "tab\tnl\n \u00e9 \u2028"}`,
		`{"": "", "\\": "\\\\", "k\"": ["\"", "\\\"", " "]}`,
		"{\n  \"a\" :\t[ 1 ,\r\n 2 ]\n}",
		`{"unicode": "Ünïcödé ☃ 𝄞", "html": "<a href=\"x\">&amp;</a>"}`,
	}
	// And random documents, written with the spacing of json.Indent.
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		doc, err := json.Marshal(randomJSON(r, 3))
		if err != nil {
			t.Fatal(err)
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, doc, "", "  "); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, indented.String())
	}
	for _, in := range inputs {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(in)); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := appendCompact([]byte("prefix"), []byte(in)); string(got) != "prefix"+want.String() {
			t.Errorf("appendCompact(%q) = %q, want %q", in, got[len("prefix"):], want.String())
		}
	}
}

// randomJSON returns a random value of at most depth levels whose strings hold spaces, quotes,
// backslashes and control characters.
func randomJSON(r *rand.Rand, depth int) any {
	pieces := []string{" ", "\"", "\\", "\\\"", "\n", "a", "é", "<", "x y", "\\\\"}
	str := func() string {
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		return b.String()
	}
	switch k := r.IntN(6); {
	case depth == 0 || k == 0:
		return str()
	case k == 1:
		return r.Float64() * 1000
	case k == 2:
		return nil
	case k == 3:
		a := make([]any, r.IntN(4))
		for i := range a {
			a[i] = randomJSON(r, depth-1)
		}
		return a
	default:
		m := map[string]any{}
		for range r.IntN(4) {
			m[str()] = randomJSON(r, depth-1)
		}
		return m
	}
}

// TestAppendString: strings are written as json.Marshal writes them.
func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "geo", "GSE12345", "a b", `q"uote`, `back\slash`, "tab\t", "<b>&", "é", "\u2028", "\xff", "urn:osa:localhost:rec:0190@2"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestAppendTimestamp: RFC 3339 in UTC with 0, 3, 6 or 9 digits of fraction, as protojson
// writes a google.protobuf.Timestamp.
func TestAppendTimestamp(t *testing.T) {
	t.Parallel()
	base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	for ns, want := range map[int]string{
		0:         "2024-05-01T08:00:00Z",
		123000000: "2024-05-01T08:00:00.123Z",
		100000000: "2024-05-01T08:00:00.100Z",
		123456000: "2024-05-01T08:00:00.123456Z",
		1000:      "2024-05-01T08:00:00.000001Z",
		123456789: "2024-05-01T08:00:00.123456789Z",
		100:       "2024-05-01T08:00:00.000000100Z",
	} {
		if got := string(appendTimestamp(nil, base.Add(time.Duration(ns)))); got != want {
			t.Errorf("appendTimestamp(+%d ns) = %s, want %s", ns, got, want)
		}
	}
}
