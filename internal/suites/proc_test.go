package suites

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Process roles, the values of --role.
const (
	roleAll    = "all"
	roleAPI    = "api"
	roleWorker = "worker"
)

// How long a process may take to listen and then to be ready.
const (
	startTimeout = 60 * time.Second
	readyTimeout = 60 * time.Second
)

// proc is one `osa serve` process of a suite. It can be killed and started again; every life
// keeps the loopback address of the first and appends to one log file, whose tail is printed
// when the test fails. The methods are safe for concurrent use and report errors rather than
// failing the test, so a killer goroutine can use them.
type proc struct {
	name    string
	role    string
	config  string // YAML config file
	logPath string

	mu        sync.Mutex
	addr      string // host:port, chosen by the kernel at the first start
	cmd       *exec.Cmd
	exited    chan struct{} // closed when the current life has ended
	exitErr   error         // of the last life that ended
	clientIDs []string      // River client ids, one per life that started River
	lives     int
}

// newProc returns a process of role with config, not started; it is killed when t ends if it is
// still running.
func newProc(t *testing.T, dir, name, role, config string) *proc {
	t.Helper()
	p := &proc{name: name, role: role, config: config, logPath: filepath.Join(dir, name+".log")}
	t.Cleanup(func() {
		if err := p.kill(); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
	})
	return p
}

// mustStart is [proc.start] for the test goroutine.
func (p *proc) mustStart(t *testing.T) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatalf("%v\n%s", err, p.logTail(40))
	}
}

// start starts a new life of the process and waits until it listens and /readyz answers 200.
// A life keeps the address of the first; if another socket took the port in between, the
// process moves to a new one.
func (p *proc) start() error {
	for {
		err := p.startOnce()
		var inUse *addrInUseError
		if !errors.As(err, &inUse) {
			return err
		}
		p.mu.Lock()
		p.addr = ""
		p.mu.Unlock()
	}
}

// addrInUseError says a life could not listen on the process's address.
type addrInUseError struct{ err error }

func (e *addrInUseError) Error() string { return e.err.Error() }

func (p *proc) startOnce() error {
	p.mu.Lock()
	if p.cmd != nil && !isClosed(p.exited) {
		p.mu.Unlock()
		return fmt.Errorf("%s: already running", p.name)
	}
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	p.lives++
	life := p.lives
	p.mu.Unlock()

	f, err := os.OpenFile(p.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	fmt.Fprintf(f, "=== %s: life %d starts at %s ===\n", p.name, life, time.Now().Format(time.RFC3339Nano))
	listening := make(chan string, 1)
	var addrInUse atomic.Bool
	w := &lineWriter{onLine: func(line []byte) {
		_, _ = f.Write(line)
		_, _ = f.Write([]byte{'\n'})
		if bytes.Contains(line, []byte("address already in use")) {
			addrInUse.Store(true)
		}
		var entry struct {
			Msg      string `json:"msg"`
			Addr     string `json:"addr"`
			ClientID string `json:"client_id"`
		}
		if json.Unmarshal(line, &entry) != nil {
			return
		}
		switch entry.Msg {
		case "server: listening":
			select {
			case listening <- entry.Addr:
			default:
			}
		case "River client started":
			p.mu.Lock()
			p.clientIDs = append(p.clientIDs, entry.ClientID)
			p.mu.Unlock()
		}
	}}
	cmd := exec.Command(osaBin, "serve", "--config", p.config, "--role", p.role, "--addr", addr)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = w, w // one pipe: lines are never interleaved
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: starting: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		w.flush()
		fmt.Fprintf(f, "=== %s: life %d ended at %s: %v ===\n", p.name, life, time.Now().Format(time.RFC3339Nano), err)
		f.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()

	select {
	case a := <-listening:
		p.mu.Lock()
		p.addr = a
		p.mu.Unlock()
	case <-exited:
		err := fmt.Errorf("%s: exited before listening on %s: %v", p.name, addr, p.exitError())
		if addrInUse.Load() && addr != "127.0.0.1:0" {
			return &addrInUseError{err}
		}
		return err
	case <-time.After(startTimeout):
		_ = p.kill()
		return fmt.Errorf("%s: not listening after %v", p.name, startTimeout)
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		code, err := p.get("/readyz")
		if err == nil && code == http.StatusOK {
			return nil
		}
		if isClosed(exited) {
			return fmt.Errorf("%s: exited before ready: %v", p.name, p.exitError())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: /readyz not 200 after %v: %d %v", p.name, readyTimeout, code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL to the running life, if any, and waits for it to end.
func (p *proc) kill() error {
	return p.signal(syscall.SIGKILL, 10*time.Second)
}

// stop sends SIGTERM and waits up to timeout for a graceful exit; an exit status other than 0 is
// an error.
func (p *proc) stop(timeout time.Duration) error {
	if err := p.signal(syscall.SIGTERM, timeout); err != nil {
		return err
	}
	if err := p.exitError(); err != nil {
		return fmt.Errorf("%s: after SIGTERM: %w", p.name, err)
	}
	return nil
}

func (p *proc) signal(sig syscall.Signal, timeout time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: %v: %w", p.name, sig, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s: still running %v after %v, killed", p.name, timeout, sig)
	}
}

func (p *proc) exitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// running reports whether a life of the process is running.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.exited)
}

// url returns the process's base URL.
func (p *proc) url() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.addr
}

// riverIDs returns the River client ids of every life so far.
func (p *proc) riverIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.clientIDs...)
}

var probeClient = &http.Client{Timeout: 5 * time.Second}

// get returns the status of GET path on the process.
func (p *proc) get(path string) (int, error) {
	resp, err := probeClient.Get(p.url() + path)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// logTail returns the last n lines of the process's log.
func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(%s: no log: %v)", p.name, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s", len(lines), p.logPath, strings.Join(lines, "\n"))
}

// logCount counts the log lines of every life that contain s.
func (p *proc) logCount(s string) int {
	b, _ := os.ReadFile(p.logPath)
	return bytes.Count(b, []byte(s))
}

// childEnv is this process's environment without OSA_* variables, so a developer's settings
// never leak into a suite's processes: their config file says everything.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OSA_") {
			env = append(env, kv)
		}
	}
	return env
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// lineWriter hands every complete line written to it to onLine.
type lineWriter struct {
	mu     sync.Mutex
	buf    []byte
	onLine func(line []byte)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.onLine(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

// flush hands a last unterminated line to onLine.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.onLine(w.buf)
		w.buf = nil
	}
}
