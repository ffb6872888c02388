package server

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/osa-archive/osa/domainerr"
)

// errorInterceptor turns the errors handlers return into Connect errors at the edge: errors that
// already carry a code pass through; a database that cannot be reached is Unavailable; a cancelled
// or expired request keeps its code; anything else is Internal with a generic message, and the
// real error (which may hold SQL text) goes only to the log.
func errorInterceptor(logger *slog.Logger) serverInterceptor {
	return func(ctx context.Context, call rpc, next func(context.Context) error) error {
		if err := next(ctx); err != nil {
			return toConnectError(ctx, logger, call.Spec.Procedure, err)
		}
		return nil
	}
}

func toConnectError(ctx context.Context, logger *slog.Logger, procedure string, err error) error {
	var (
		connectErr *connect.Error
		invalid    *domainerr.ValidationError
		limit      *domainerr.LimitError
	)
	switch {
	case errors.As(err, &connectErr):
		return err
	case errors.As(err, &invalid):
		return invalidArgument(invalid, invalid.Field, invalid.Reason)
	case errors.As(err, &limit):
		return invalidArgument(limit, limit.Field, limit.Reason)
	case errors.Is(err, domainerr.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, domainerr.ErrAlreadyExists):
		return connect.NewError(connect.CodeAlreadyExists, err)
	case errors.Is(err, domainerr.ErrFailedPrecondition):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, domainerr.ErrResourceExhausted):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("request cancelled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("request deadline exceeded"))
	case isUnavailable(err):
		logger.WarnContext(ctx, "server: database unavailable", "procedure", procedure, "error", err)
		return connect.NewError(connect.CodeUnavailable, errors.New("database unavailable, try again later"))
	default:
		logger.ErrorContext(ctx, "server: internal error", "procedure", procedure, "error", err)
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
}

// invalidArgument is an InvalidArgument error with the message of err ("field: reason") and a
// google.rpc.BadRequest detail naming the field, which clients read instead of parsing the
// message.
func invalidArgument(err error, field, reason string) *connect.Error {
	ce := connect.NewError(connect.CodeInvalidArgument, err)
	detail, derr := connect.NewErrorDetail(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: reason}},
	})
	if derr == nil { // a BadRequest always marshals
		ce.AddDetail(detail)
	}
	return ce
}

// isUnavailable reports whether err means the database could not be reached or went away.
func isUnavailable(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
		pgErr      *pgconn.PgError
	)
	if errors.As(err, &connectErr) || errors.As(err, &netErr) {
		return true
	}
	// Class 57P: operator intervention (admin shutdown, crash shutdown, cannot connect now).
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 && pgErr.Code[:3] == "57P" {
		return true
	}
	return pgconn.SafeToRetry(err)
}

// isDomainError reports whether err is one of the domain's own answers (a bad request, a missing
// record, a cancelled call) rather than a failure to answer.
func isDomainError(err error) bool {
	var (
		invalid *domainerr.ValidationError
		limit   *domainerr.LimitError
	)
	return errors.As(err, &invalid) || errors.As(err, &limit) || errors.Is(err, domainerr.ErrNotFound) ||
		errors.Is(err, domainerr.ErrAlreadyExists) || errors.Is(err, domainerr.ErrFailedPrecondition) ||
		errors.Is(err, domainerr.ErrResourceExhausted) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
