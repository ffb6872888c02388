package replicas

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Down reports whether err, of a read that ran on a replica, says that the replica cannot be
// reached: it refused or dropped the connection, it is shutting down, starting up or out of
// connections. [Router.Retry] then takes the replica out of the routing until a probe finds it
// up. Other errors a replica can give that the primary would not (a query cancelled by a
// conflict with the WAL it replays, a table of a migration it has not replayed yet) leave it in
// use. The end of the request's own context is not the replica's doing.
func Down(err error) bool {
	if err == nil {
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) { // before the context errors: a connect timeout is one
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		return strings.HasPrefix(code, "08") || // connection_exception
			code == "57P01" || code == "57P02" || code == "57P03" || // admin_shutdown, crash_shutdown, cannot_connect_now
			code == "53300" // too_many_connections
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}
