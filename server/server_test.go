package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/server"
)

type testBundle struct {
	baseURL string
	cancel  context.CancelFunc
	cfg     *config.Config
	dbURL   string
	done    chan error
	srv     *server.Server

	stopOnce sync.Once
}

// stop stops the server and waits until it has; the test's cleanup calls it too.
func (b *testBundle) stop() {
	b.stopOnce.Do(func() {
		b.cancel()
		<-b.done
		b.srv.Close()
	})
}

// setup starts a server on a free loopback port against a fresh database.
func setup(t *testing.T, edit func(*config.Config)) *testBundle {
	t.Helper()
	return setupWithLogger(t, edit, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// setupWithLogger is setup with the server logging to logger.
func setupWithLogger(t *testing.T, edit func(*config.Config), logger *slog.Logger) *testBundle {
	t.Helper()
	cfg := config.Default()
	cfg.Database.URL = pgtest.NewURL(t)
	cfg.HTTP.ShutdownTimeout = 5 * time.Second
	cfg.Worker.ShutdownTimeout = 5 * time.Second
	if edit != nil {
		edit(cfg)
	}
	srv, err := server.New(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &testBundle{baseURL: "http://" + ln.Addr().String(), cancel: cancel, cfg: cfg, dbURL: cfg.Database.URL,
		done: make(chan error, 1), srv: srv}
	go func() { b.done <- srv.Run(ctx, ln) }()
	t.Cleanup(b.stop)
	return b
}

// h2cClient speaks HTTP/2 without TLS, as gRPC clients do with -plaintext.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{}}}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHealthzAndReadyz(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	if code, body := get(t, b.baseURL+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, b.baseURL+"/readyz"); code != http.StatusOK || strings.TrimSpace(body) != "ready" {
		t.Fatalf("/readyz = %d %q", code, body)
	}
}

func TestReadyzPendingMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := pgtest.NewURL(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Forget the newest migration, as a database behind the binary would be.
	if _, err := conn.Exec(ctx, "DELETE FROM osa_migration WHERE version = (SELECT max(version) FROM osa_migration)"); err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(c *config.Config) {
		c.Database.URL = dbURL
		c.Database.AutoMigrate = false
	})
	code, body := get(t, b.baseURL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "migrations pending") {
		t.Fatalf("/readyz = %d %q, want 503 naming pending migrations", code, body)
	}
	if code, _ := get(t, b.baseURL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d while not ready, want 200", code)
	}
}

func TestReadyzDatabaseGone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	if code, _ := get(t, b.baseURL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d before the database went away", code)
	}
	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := b.srv.Pool().Config().ConnConfig.Database
	if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, b.baseURL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "database unreachable") {
		t.Fatalf("/readyz = %d %q, want 503 database unreachable", code, body)
	}

	health := grpchealth.NewClient(h2cClient(), b.baseURL, connect.WithGRPC())
	resp, err := health.Check(ctx, &grpchealth.CheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != grpchealth.StatusNotServing {
		t.Fatalf("grpc health = %v, want NOT_SERVING", resp.Status)
	}
}

// /readyz pings on a connection of its own: a pool whose every connection is in use (slow
// queries on a slow network) is no reason to report a reachable database unreachable, and a
// connection cut since the last check is replaced within the check.
func TestReadyzOwnConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, func(c *config.Config) { c.Database.MaxConns = config.MaxConnsMin })
	if code, body := get(t, b.baseURL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %q at start", code, body)
	}

	// Take every connection of the pool.
	pool := b.srv.Pool()
	var taken []*pgxpool.Conn
	for {
		actx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		c, err := pool.Acquire(actx)
		cancel()
		if err != nil {
			break
		}
		taken = append(taken, c)
	}
	if st := pool.Stat(); st.AcquiredConns() != st.MaxConns() {
		t.Fatalf("%d of the pool's %d connections taken", st.AcquiredConns(), st.MaxConns())
	}
	start := time.Now()
	if code, body := get(t, b.baseURL+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q with every connection of the pool in use, want 200", code, body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("/readyz took %v with every connection of the pool in use", d)
	}
	for _, c := range taken {
		c.Release()
	}

	// Cut every connection to the database, the pool's idle ones and the check's: the next check
	// connects again.
	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var cut int
	if err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, pool.Config().ConnConfig.Database).Scan(&cut); err != nil {
		t.Fatal(err)
	}
	if cut == 0 {
		t.Fatal("no connection to cut")
	}
	if code, body := get(t, b.baseURL+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q after its connection was cut, want 200", code, body)
	}
}

func TestGRPCHealthAndReflection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)

	health := grpchealth.NewClient(h2cClient(), b.baseURL, connect.WithGRPC())
	resp, err := health.Check(ctx, &grpchealth.CheckRequest{Service: osav1connect.RecordServiceName})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != grpchealth.StatusServing {
		t.Fatalf("grpc health = %v, want SERVING", resp.Status)
	}

	stream := grpcreflect.NewClient(h2cClient(), b.baseURL).NewStream(ctx)
	defer stream.Close()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{osav1connect.AdminServiceName, osav1connect.RecordServiceName, osav1connect.SearchServiceName,
		osav1connect.SourceServiceName, grpchealth.HealthV1ServiceName, grpcreflect.ReflectV1ServiceName}
	got := map[string]bool{}
	for _, n := range names {
		got[string(n)] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("reflection lists %v, missing %s", names, w)
		}
	}
}

func TestRiverUIServed(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	code, body := get(t, b.baseURL+"/riverui/")
	if code != http.StatusOK || !strings.Contains(strings.ToLower(body), "<html") {
		t.Fatalf("/riverui/ = %d, body starts %.80q", code, body)
	}
}

func TestWorkerRoleServesOnlyHealth(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Node.Role = config.RoleWorker })
	if code, _ := get(t, b.baseURL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d on a worker", code)
	}
	if code, _ := get(t, b.baseURL+"/riverui/"); code != http.StatusNotFound {
		t.Fatalf("/riverui/ = %d on a worker, want 404", code)
	}
	client := osav1connect.NewRecordServiceClient(http.DefaultClient, b.baseURL)
	_, err := client.GetRecord(context.Background(), connect.NewRequest(&osav1.GetRecordRequest{Srn: "x"}))
	if connect.CodeOf(err) != connect.CodeNotFound && connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("RecordService on a worker: %v, want 404 from the mux", err)
	}
}

func TestRequestSizeLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.HTTP.ReadMaxBytes = 1024 })
	client := osav1connect.NewRecordServiceClient(http.DefaultClient, b.baseURL)
	meta, err := structpb.NewStruct(map[string]any{"title": strings.Repeat("x", 4096)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.PublishRecord(context.Background(), connect.NewRequest(&osav1.PublishRecordRequest{Metadata: meta}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "http.read_max_bytes") {
		t.Fatalf("oversized request: %v, want invalid_argument naming http.read_max_bytes", err)
	}
	// Over gRPC too, in its own protocol.
	grpcClient := osav1connect.NewRecordServiceClient(h2cClient(), b.baseURL, connect.WithGRPC())
	_, err = grpcClient.PublishRecord(context.Background(), connect.NewRequest(&osav1.PublishRecordRequest{Metadata: meta}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("oversized gRPC request: %v, want invalid_argument", err)
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	if code, _ := get(t, b.baseURL+"/healthz"); code != http.StatusOK {
		t.Fatal("server not up")
	}
	start := time.Now()
	b.cancel()
	select {
	case err := <-b.done:
		if err != nil {
			t.Fatalf("Run returned %v after a clean shutdown", err)
		}
		b.done <- nil // for Cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancellation")
	}
	t.Logf("shutdown took %v", time.Since(start))
	if _, err := http.Get(b.baseURL + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)

	cfg := config.Default()
	if _, err := server.New(ctx, cfg, logger); err == nil || !strings.Contains(err.Error(), "database.url") {
		t.Fatalf("empty database.url: %v", err)
	}
	cfg.Database.URL = "postgres://osa:secret-pw@127.0.0.1:1/osa?connect_timeout=2"
	_, err := server.New(ctx, cfg, logger)
	if err == nil || !strings.Contains(err.Error(), "database.url: cannot connect") {
		t.Fatalf("unreachable database: %v", err)
	}
	if strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("error leaks the password: %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}
}

// The error interceptor must never hand SQL text or internals to a client.
func TestInternalErrorsHidden(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	err := server.ToConnectErrorForTest(slog.New(slog.NewTextHandler(&logs, nil)),
		errors.New(`ERROR: relation "secret_table" does not exist (SQLSTATE 42P01)`))
	if connect.CodeOf(err) != connect.CodeInternal || strings.Contains(err.Error(), "secret_table") {
		t.Fatalf("got %v, want a bare internal error", err)
	}
	if !strings.Contains(logs.String(), "secret_table") {
		t.Fatal("the real error was not logged")
	}
}
