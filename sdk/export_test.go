package sdk_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/osa-archive/osa/sdk"
)

// TestExport writes an export with its progress and its cursor, through every protocol; then
// the changefeed after the cursor holds only what came later. A bad format is refused before
// anything is sent.
func TestExport(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	base := newServer(t, nil)
	for _, p := range []sdk.Protocol{sdk.ProtocolConnectProto, sdk.ProtocolConnectJSON, sdk.ProtocolGRPC, sdk.ProtocolGRPCWeb} {
		c := newClient(t, base, sdk.WithProtocol(p))
		rec, err := c.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"title": fmt.Sprintf("Axolotl limb %d", p)}})
		if err != nil {
			t.Fatal(err)
		}
		var (
			file          bytes.Buffer
			calls         int
			lastDone, tot int64
		)
		res, err := c.Export(ctx, &file, &sdk.ExportOpts{Progress: func(done, total int64) { calls, lastDone, tot = calls+1, done, total }})
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		n := int64(strings.Count(file.String(), "\n"))
		if res.Records != n || lastDone != n || tot != n || calls < 2 || res.Cursor == "" || !strings.Contains(file.String(), rec.SRN) {
			t.Fatalf("%v: Export = %+v, progress %d calls, last %d/%d, file:\n%s", p, res, calls, lastDone, tot, file.String())
		}
		page, err := c.ListEvents(ctx, res.Cursor, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if e.SRN == rec.SRN {
				t.Errorf("%v: the event of %s, which the export holds, comes after its cursor", p, rec.SRN)
			}
		}
	}
	_, err := newClient(t, base).Export(ctx, &bytes.Buffer{}, &sdk.ExportOpts{Format: "xml"})
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != sdk.CodeInvalidArgument || se.Field != "format" {
		t.Fatalf("Export of format xml: %v", err)
	}
}
