package server

import (
	"context"
	"log/slog"

	"connectrpc.com/connect"
)

// ToConnectErrorForTest exposes the error mapping to the black-box tests.
func ToConnectErrorForTest(logger *slog.Logger, err error) error {
	return toConnectError(context.Background(), logger, "/test", err)
}

// HandlerOptionsForTest returns the options of the server's handlers, interceptors included, so
// that a test can mount a handler of its own (a streaming one) behind them.
func (s *Server) HandlerOptionsForTest() []connect.HandlerOption {
	return s.handlerOptions(newAuthorizer(s.cfg.Auth))
}
