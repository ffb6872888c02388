package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/server"
)

// load builds the effective config, and the logger writing to w: flagSets are "key=value"
// overrides from a command's own flags, applied after --set so that a named flag wins.
func (g *globalFlags) load(w io.Writer, flagSets ...string) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(config.LoadOpts{File: g.configFile, Set: append(append([]string{}, g.set...), flagSets...)})
	if err != nil {
		return nil, nil, err
	}
	return cfg, server.NewLogger(cfg.Log.Level, cfg.Log.Format, w), nil
}

// runServer listens on http.addr, builds the server and runs it until ctx is cancelled.
// onListen, when not nil, is called once the listener is up with its address.
func runServer(ctx context.Context, cfg *config.Config, logger *slog.Logger, onListen func(net.Addr)) error {
	srv, err := server.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	return srv.Run(ctx, ln)
}
