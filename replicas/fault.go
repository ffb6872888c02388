package replicas

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// FaultKind is whose fault a failed read on a replica was ([Fault]).
type FaultKind int

const (
	// FaultNone: the read failed for a reason the primary would share (bad input, the
	// request's own deadline): asking the primary again would not help.
	FaultNone FaultKind = iota
	// FaultConnection: the replica could not be reached or its connection broke (it is down,
	// restarting, refusing connections): the read is asked of the primary, and the replica takes
	// no read until a probe finds it up.
	FaultConnection
	// FaultReplica: the replica answered, but as only a replica would: a query cancelled by a
	// conflict with the WAL it replays, or a table or column it has not replayed the migration
	// of yet. The read is asked of the primary; the replica stays in use.
	FaultReplica
)

// Fault classifies the error of a read that ran on a replica.
func Fault(err error) FaultKind {
	if err == nil {
		return FaultNone
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) { // before the context errors: a connect timeout is one
		return FaultConnection
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "08"), // connection_exception
			code == "57P01", code == "57P02", code == "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			code == "53300": // too_many_connections
			return FaultConnection
		case code == "40001", code == "40P01", code == "57P04", // conflicts with recovery
			code == "42P01", code == "42703", code == "42883": // undefined table, column, function
			return FaultReplica
		}
		return FaultNone
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return FaultNone // the request's own end
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) {
		return FaultConnection
	}
	return FaultNone
}
