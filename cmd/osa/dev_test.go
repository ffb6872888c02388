package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/devpg"
)

// startDev starts `osa dev` in a child process on the private cluster directory dir, with its
// standard output and error on a pipe, and returns the child and the pipe's read end once the
// child says it is running, with everything it printed until then.
func startDev(t *testing.T, dir string) (*exec.Cmd, *os.File, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainProcess$")
	cmd.Env = append(os.Environ(), mainArgsEnv+"=dev", "OSA_DEV__DATA_DIR="+dir, "OSA_DEV__PORT=0",
		"OSA_HTTP__ADDR=127.0.0.1:0", "OSA_DEV__SHARED_BUFFERS=128MB", "OSA_DEV__MAINTENANCE_WORK_MEM=64MB", "OSA_CONFIG_FILE=")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var printed strings.Builder
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("osa dev ended before it ran:\n%s", printed.String())
			}
			printed.WriteString(l + "\n")
			if strings.Contains(l, "OSA is running.") {
				go func() { // keep draining until the test closes the pipe
					for range lines {
					}
				}()
				return cmd, r, printed.String()
			}
		case <-deadline:
			t.Fatalf("osa dev did not start within 2 minutes:\n%s", printed.String())
		}
	}
}

// postmasterRunning reports whether a PostgreSQL server runs on dir's data directory.
func postmasterRunning(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid"))
	return err == nil
}

// osa dev stops its cluster on SIGINT even when its output pipe has closed (make run | tee log,
// then Ctrl-C, which kills tee too); and a cluster left running by a run that was killed is
// reported, adopted and stopped by the next run.
func TestDevStopsItsCluster(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "osa-dev-test-") // not t.TempDir: the postgres user must reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if binDir, err := devpg.Provision(context.Background(), nil); err == nil {
			_ = devpg.StopDir(context.Background(), binDir, dir)
		}
		_ = os.RemoveAll(dir)
	})

	// The pipe closes, then Ctrl-C.
	cmd, r, _ := startDev(t, dir)
	r.Close()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	if postmasterRunning(dir) {
		t.Fatal("osa dev left PostgreSQL running after SIGINT with its output pipe closed")
	}

	// Killed: the cluster is left running; the next run adopts it and stops it.
	cmd, r, _ = startDev(t, dir)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	r.Close()
	if !postmasterRunning(dir) {
		t.Fatal("a killed osa dev's cluster is not running: the leftover case was not set up")
	}
	cmd, r, printed := startDev(t, dir)
	defer r.Close()
	if !strings.Contains(printed, "left by an earlier run that did not stop it; adopting it") {
		t.Fatalf("the next osa dev did not report the leftover cluster:\n%s", printed)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	if postmasterRunning(dir) {
		t.Fatal("osa dev did not stop the leftover cluster it adopted")
	}
}

// waitExit waits up to a minute for cmd to exit.
func waitExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("osa dev did not exit within a minute of the signal")
	}
}
