package server_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"connectrpc.com/connect"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/server"
	"github.com/osa-archive/osa/sources"
)

// TestDomainErrorsMapByKind: every domain error reaches its Connect code through the one
// mapping, by its kind, also when wrapped, with its message as it was.
func TestDomainErrorsMapByKind(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		err  error
		code connect.Code
		msg  string
	}{
		{records.ErrNotFound, connect.CodeNotFound, "record not found"},
		{fmt.Errorf("srn x: %w", records.ErrNotFound), connect.CodeNotFound, "srn x: record not found"},
		{harvest.ErrNotFound, connect.CodeNotFound, "harvest not found"},
		{fmt.Errorf("source: %w", sources.ErrUnknownSource), connect.CodeNotFound, "source: unknown source"},
		{sources.ErrDisabled, connect.CodeFailedPrecondition, "source is disabled"},
		{&harvest.RunningError{Source: "geo"}, connect.CodeAlreadyExists, `a harvest of source "geo" is already running`},
		{domainerr.New(domainerr.ErrNotFound, "id: no reindex %d", 7), connect.CodeNotFound, "id: no reindex 7"},
		{domainerr.New(domainerr.ErrResourceExhausted, "export.max_running (4) exports are running"), connect.CodeResourceExhausted,
			"export.max_running (4) exports are running"},
		{domainerr.Invalid("limit", "must be positive"), connect.CodeInvalidArgument, "limit: must be positive"},
		{errors.New("boom"), connect.CodeInternal, "internal error"},
	} {
		err := server.ToConnectErrorForTest(logger, tt.err)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != tt.code || ce.Message() != tt.msg {
			t.Errorf("%v: %v, want %v %q", tt.err, err, tt.code, tt.msg)
		}
	}
}
