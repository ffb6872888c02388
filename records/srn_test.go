package records

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/osa-archive/osa/domainerr"
)

// Test IDs: a UUIDv7 (version nibble 7, variant nibble 8 = RFC 4122) and the
// same bits as version 4 and with the Microsoft variant.
const (
	testIDv7        = "0190a5b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b"
	testIDv4        = "0190a5b2-7c3e-4d4f-8a1b-2c3d4e5f6a7b"
	testIDMicrosoft = "0190a5b2-7c3e-7d4f-ca1b-2c3d4e5f6a7b"
)

func TestParseSRN(t *testing.T) {
	t.Parallel()

	id := uuid.MustParse(testIDv7)
	domain63 := strings.Repeat("a", 31) + "." + strings.Repeat("b", 31)

	tests := []struct {
		name string
		in   string
		want SRN
	}{
		{"DomainDigits", "urn:osa:0.0:rec:" + testIDv7, SRN{Domain: "0.0", ID: id}},
		{"DomainHyphen", "urn:osa:a-b.c0.example:rec:" + testIDv7 + "@7", SRN{Domain: "a-b.c0.example", ID: id, Version: 7}},
		{"DomainMaxLen", "urn:osa:" + domain63 + ":rec:" + testIDv7, SRN{Domain: domain63, ID: id}},
		{"DomainSingleChar", "urn:osa:a:rec:" + testIDv7, SRN{Domain: "a", ID: id}},
		{"Latest", "urn:osa:localhost:rec:" + testIDv7, SRN{Domain: "localhost", ID: id}},
		{"Version1", "urn:osa:localhost:rec:" + testIDv7 + "@1", SRN{Domain: "localhost", ID: id, Version: 1}},
		{"VersionMax", "urn:osa:localhost:rec:" + testIDv7 + "@2147483647", SRN{Domain: "localhost", ID: id, Version: SRNVersionMax}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := ParseSRN(tt.in)
			if err != nil {
				t.Fatalf("ParseSRN(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseSRN(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Fatalf("String() = %q, want %q", s, tt.in)
			}
		})
	}
}

func TestParseSRNError(t *testing.T) {
	t.Parallel()

	const p = "urn:osa:localhost:rec:"

	tests := []struct {
		name string
		in   string
		want string
	}{
		{"DomainBadChar", "urn:osa:a_b:rec:" + testIDv7, `srn: domain "a_b" has invalid character '_' (want a-z, 0-9, - and .)`},
		{"DomainEmpty", "urn:osa::rec:" + testIDv7, `srn: domain is empty`},
		{"DomainEmptyLabel", "urn:osa:a..b:rec:" + testIDv7, `srn: domain "a..b" has an empty label`},
		{"DomainHyphenEnd", "urn:osa:a.b-:rec:" + testIDv7, `srn: domain "a.b-" has label "b-" starting or ending with "-"`},
		{"DomainHyphenStart", "urn:osa:-a.com:rec:" + testIDv7, `srn: domain "-a.com" has label "-a" starting or ending with "-"`},
		{"DomainLeadingDot", "urn:osa:.a:rec:" + testIDv7, `srn: domain ".a" has an empty label`},
		{"DomainNonASCII", "urn:osa:é.com:rec:" + testIDv7, `srn: domain "é.com" has invalid character 'é' (want a-z, 0-9, - and .)`},
		{"DomainTooLong", "urn:osa:" + strings.Repeat("a", 64) + ":rec:" + testIDv7, `srn: domain "` + strings.Repeat("a", 64) + `" is 64 bytes, over the maximum of 63`},
		{"DomainTrailingDot", "urn:osa:a.:rec:" + testIDv7, `srn: domain "a." has an empty label`},
		{"DomainUpper", "urn:osa:Ex.com:rec:" + testIDv7, `srn: domain "Ex.com" must be lower-case`},
		{"Empty", "", `srn: is required`},
		{"IDBraces", p + "{" + testIDv7[:34] + "}", `srn: id "{0190a5b2-7c3e-7d4f-8a1b-2c3d4e5f6a}" is not a UUID`},
		{"IDEmpty", p, `srn: id "" is not a UUID`},
		{"IDNil", p + uuid.Nil.String(), `srn: id must be a UUIDv7, got version 0`},
		{"IDNoHyphens", p + strings.ReplaceAll(testIDv7, "-", ""), `srn: id "0190a5b27c3e7d4f8a1b2c3d4e5f6a7b" is not a UUID`},
		{"IDNotHex", p + "0190a5b2-7c3e-7d4f-8a1b-2c3d4e5f6a7g", `srn: id "0190a5b2-7c3e-7d4f-8a1b-2c3d4e5f6a7g" is not a UUID`},
		{"IDShort", p + "abc", `srn: id "abc" is not a UUID`},
		{"IDUpper", p + strings.ToUpper(testIDv7), `srn: id "0190A5B2-7C3E-7D4F-8A1B-2C3D4E5F6A7B" must be lower-case`},
		{"IDVariant", p + testIDMicrosoft, `srn: id must be a UUIDv7, got variant Microsoft`},
		{"IDVersion4", p + testIDv4, `srn: id must be a UUIDv7, got version 4`},
		{"PartsFew", "urn:osa:localhost", `srn: want 5 parts "urn:osa:{domain}:rec:{id}[@{version}]", got 3`},
		{"PartsMany", p + testIDv7 + ":x", `srn: want 5 parts "urn:osa:{domain}:rec:{id}[@{version}]", got 6`},
		{"PartsOne", "hello", `srn: want 5 parts "urn:osa:{domain}:rec:{id}[@{version}]", got 1`},
		{"PrefixUpper", "URN:OSA:localhost:rec:" + testIDv7, `srn: prefix "URN:OSA" must be lower-case`},
		{"PrefixWrong", "urn:xyz:localhost:rec:" + testIDv7, `srn: prefix must be "urn:osa", got "urn:xyz"`},
		{"TooLong", p + strings.Repeat("x", 200), `srn: is 222 bytes, over the maximum of 200`},
		{"TypeUpper", "urn:osa:localhost:REC:" + testIDv7, `srn: type "REC" must be lower-case`},
		{"TypeWrong", "urn:osa:localhost:dataset:" + testIDv7, `srn: type must be "rec", got "dataset"`},
		{"VersionDecimal", p + testIDv7 + "@1.5", `srn: version "1.5" must be an integer ≥ 1`},
		{"VersionEmpty", p + testIDv7 + "@", `srn: version is empty after "@"`},
		{"VersionHuge", p + testIDv7 + "@99999999999999999999", `srn: version "99999999999999999999" is over the maximum of 2147483647`},
		{"VersionLeadingZero", p + testIDv7 + "@01", `srn: version "01" must not have leading zeros`},
		{"VersionMinus", p + testIDv7 + "@-1", `srn: version "-1" must be an integer ≥ 1`},
		{"VersionOverMax", p + testIDv7 + "@2147483648", `srn: version "2147483648" is over the maximum of 2147483647`},
		{"VersionPlus", p + testIDv7 + "@+1", `srn: version "+1" must be an integer ≥ 1`},
		{"VersionTwice", p + testIDv7 + "@1@2", `srn: version "1@2" must be an integer ≥ 1`},
		{"VersionWord", p + testIDv7 + "@latest", `srn: version "latest" must be an integer ≥ 1`},
		{"VersionZero", p + testIDv7 + "@0", `srn: version "0" must be an integer ≥ 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := ParseSRN(tt.in)
			if err == nil {
				t.Fatalf("ParseSRN(%q) = %+v, want error %q", tt.in, got, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("ParseSRN(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
			}
			var ve *domainerr.ValidationError
			if !errors.As(err, &ve) || ve.Field != "srn" {
				t.Fatalf("error %#v is not a *domainerr.ValidationError with Field srn", err)
			}
			if got != (SRN{}) {
				t.Fatalf("ParseSRN(%q) = %+v with an error, want the zero SRN", tt.in, got)
			}
		})
	}
}

func TestSRN(t *testing.T) {
	t.Parallel()

	srn := SRN{Domain: "archive.example.org", ID: uuid.MustParse(testIDv7), Version: 3}

	t.Run("Latest", func(t *testing.T) {
		t.Parallel()

		latest := srn.Latest()
		if latest.Version != 0 || latest.ID != srn.ID || latest.Domain != srn.Domain {
			t.Fatalf("Latest() = %+v", latest)
		}
		if want := "urn:osa:archive.example.org:rec:" + testIDv7; latest.String() != want {
			t.Fatalf("Latest().String() = %q, want %q", latest.String(), want)
		}
		if srn.Version != 3 {
			t.Fatal("Latest changed its receiver")
		}
	})

	t.Run("RoundTripNewV7", func(t *testing.T) {
		t.Parallel()

		for v := range 3 {
			want := SRN{Domain: "localhost", ID: uuid.Must(uuid.NewV7()), Version: v}
			got, err := ParseSRN(want.String())
			if err != nil || got != want {
				t.Fatalf("ParseSRN(%q) = %+v, %v; want %+v", want.String(), got, err, want)
			}
		}
	})

	t.Run("String", func(t *testing.T) {
		t.Parallel()

		if want := "urn:osa:archive.example.org:rec:" + testIDv7 + "@3"; srn.String() != want {
			t.Fatalf("String() = %q, want %q", srn.String(), want)
		}
	})

	t.Run("WithVersion", func(t *testing.T) {
		t.Parallel()

		got := srn.WithVersion(12)
		if want := (SRN{Domain: srn.Domain, ID: srn.ID, Version: 12}); got != want {
			t.Fatalf("WithVersion(12) = %+v, want %+v", got, want)
		}
		if srn.Version != 3 {
			t.Fatal("WithVersion changed its receiver")
		}
	})
}

func FuzzParseSRN(f *testing.F) {
	for _, s := range []string{
		"",
		"urn:osa:localhost:rec:" + testIDv7,
		"urn:osa:localhost:rec:" + testIDv7 + "@1",
		"urn:osa:a-b.c0.example:rec:" + testIDv7 + "@2147483647",
		"urn:osa:localhost:rec:" + testIDv7 + "@2147483648",
		"urn:osa:localhost:rec:" + testIDv7 + "@01",
		"urn:osa:localhost:rec:" + testIDv7 + "@",
		"urn:osa:localhost:rec:" + testIDv4,
		"urn:osa:localhost:rec:" + testIDMicrosoft,
		"urn:osa:localhost:rec:" + strings.ToUpper(testIDv7),
		"urn:osa:Ex.com:rec:" + testIDv7,
		"urn:osa:a..b:rec:" + testIDv7,
		"urn:osa:-a:rec:" + testIDv7,
		"URN:OSA:localhost:REC:" + testIDv7,
		"urn:osa:localhost:dataset:" + testIDv7,
		"urn:osa:localhost",
		"urn:osa:\xff:rec:" + testIDv7,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		srn, err := ParseSRN(s)
		if err != nil {
			var ve *domainerr.ValidationError
			if !errors.As(err, &ve) || ve.Field != "srn" {
				t.Fatalf("ParseSRN(%q) error %#v is not a *domainerr.ValidationError with Field srn", s, err)
			}
			// Messages travel in protobuf strings, which must be UTF-8.
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("ParseSRN(%q) error %q is not valid UTF-8", s, err)
			}
			return
		}
		// Strict parsing means the canonical form is the only form.
		if got := srn.String(); got != s {
			t.Fatalf("ParseSRN(%q).String() = %q, want the input", s, got)
		}
		again, err := ParseSRN(srn.String())
		if err != nil || again != srn {
			t.Fatalf("ParseSRN(%q) = %+v, %v; want %+v", srn.String(), again, err, srn)
		}
	})
}
