package server

import (
	"context"
	"log/slog"
)

// ToConnectErrorForTest exposes the error mapping to the black-box tests.
func ToConnectErrorForTest(logger *slog.Logger, err error) error {
	return toConnectError(context.Background(), logger, "/test", err)
}
