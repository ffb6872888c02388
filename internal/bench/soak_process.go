package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/devpg"
)

// soakStopTimeout bounds a process's graceful stop at the end of the soak; its shutdown
// timeouts are set below it.
const soakStopTimeout = 20 * time.Second

// soakProcess is one osa serve child process of the soak, with the config file it runs.
type soakProcess struct {
	role    string // config.RoleAPI or config.RoleWorker
	bin     string
	cfgFile string
	logFile string
	base    string // http://127.0.0.1:PORT

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	// expected is set while the soak itself stops or kills the process.
	expected bool
}

// appName is the application_name of the process's database connections.
func (p *soakProcess) appName() string { return "osa_soak_" + p.role }

// startProcesses writes the processes' configs into dir and starts the API, then the worker,
// each ready before the next.
func (s *soakRun) startProcesses(ctx context.Context, dbURL, dir string) error {
	var err error
	if s.api, err = newSoakProcess(dbURL, dir, config.RoleAPI, s.opts.Binary); err != nil {
		return err
	}
	if err := s.api.restart(ctx); err != nil {
		return err
	}
	if s.wrk, err = newSoakProcess(dbURL, dir, config.RoleWorker, s.opts.Binary); err != nil {
		return err
	}
	return s.wrk.restart(ctx)
}

// newSoakProcess writes the config of a process of role into dir: the built-in configuration
// on dbURL, its connections named after the role, a free loopback port, warnings only in its
// log. The worker settings are the defaults, heartbeat included: the soak proves them.
func newSoakProcess(dbURL, dir, role, bin string) (*soakProcess, error) {
	p := &soakProcess{role: role, bin: bin, cfgFile: filepath.Join(dir, role+".yaml"), logFile: filepath.Join(dir, role+".log")}
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("application_name", p.appName())
	u.RawQuery = q.Encode()
	port, err := devpg.FreePort()
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.Database.URL = u.String()
	cfg.Node.Role = role
	cfg.HTTP.Addr = "127.0.0.1:" + strconv.Itoa(port)
	cfg.HTTP.ShutdownTimeout = soakStopTimeout / 2
	cfg.Worker.ShutdownTimeout = soakStopTimeout / 2
	cfg.Log.Level = "warn"
	cfg.UI.Enabled = false
	cfg.RiverUI.Enabled = false
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("soak %s configuration: %w", role, err)
	}
	y, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.cfgFile, y, 0o600); err != nil {
		return nil, err
	}
	p.base = "http://" + cfg.HTTP.Addr
	return p, nil
}

// restart starts the process (again) and waits until it answers /readyz with 200. The
// environment's OSA_* variables are left out: the config file alone configures it.
func (p *soakProcess) restart(ctx context.Context) error {
	log, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, "serve", "--config", p.cfgFile)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OSA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("error starting the %s process: %w", p.role, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited, p.expected = cmd, exited, false
	p.mu.Unlock()

	client := &http.Client{Timeout: time.Second}
	ready := make(chan error, 1)
	go func() { ready <- waitReady(ctx, client, p.base) }()
	select {
	case err = <-ready:
	case <-exited:
		err = fmt.Errorf("it exited (%s)", cmd.ProcessState)
	}
	if err != nil {
		return fmt.Errorf("the %s process did not become ready: %w; its log ends:\n%s", p.role, err, p.logTail())
	}
	return nil
}

// logTail returns the last lines of the process's log.
func (p *soakProcess) logTail() string {
	b, _ := os.ReadFile(p.logFile)
	return lastLines(string(b), 15)
}

// pid returns the running process's pid.
func (p *soakProcess) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// kill SIGKILLs the process and waits until it is gone.
func (p *soakProcess) kill() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.expected = true
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("error killing the %s process: %w", p.role, err)
	}
	<-exited
	return nil
}

// stop stops the process with SIGTERM, as a service manager would, and SIGKILLs it when it has
// not exited after [soakStopTimeout]; a process that exited by itself is no error here (the
// soak reports it).
func (p *soakProcess) stop() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.expected = true
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(soakStopTimeout):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		return fmt.Errorf("the %s process did not stop within %s of SIGTERM; killed", p.role, soakStopTimeout)
	}
}

// exitedChan returns the channel closed when the running process exits.
func (p *soakProcess) exitedChan() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// exitExpected reports whether the soak itself is stopping or killing the process.
func (p *soakProcess) exitExpected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.expected
}

// rssBytes returns the process's resident set size (VmRSS of /proc/PID/status).
func (p *soakProcess) rssBytes() (int64, error) {
	kb := procField(fmt.Sprintf("/proc/%d/status", p.pid()), "VmRSS")
	n, err := strconv.ParseInt(strings.TrimSuffix(kb, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("no VmRSS for the %s process: %q", p.role, kb)
	}
	return n << 10, nil
}

// goroutines returns go_goroutines from the process's /metrics.
func (p *soakProcess) goroutines(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, soakRequestTimeout)
	defer cancel()
	body, err := get(ctx, p.base+"/metrics")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no go_goroutines in the %s process's /metrics", p.role)
}

// watchExits restarts a process that exited by itself (a defect the report shows as an
// [SoakEventExit]) so that the soak goes on, until ctx ends.
func (s *soakRun) watchExits(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.api.exitedChan():
			s.restartExited(ctx, s.api)
		case <-s.wrk.exitedChan():
			s.restartExited(ctx, s.wrk)
		}
	}
}

// restartExited restarts p unless the soak itself stopped it.
func (s *soakRun) restartExited(ctx context.Context, p *soakProcess) {
	if p.exitExpected() || ctx.Err() != nil {
		// The soak's own kill or stop: whoever did it restarts it. Wait for that.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		return
	}
	i := s.event(SoakEventExit, s.since(), fmt.Sprintf("the %s process exited by itself; its log ends: %s", p.role, p.logTail()))
	if err := p.restart(ctx); err != nil {
		s.endEvent(i, s.since(), "restart failed: "+err.Error())
		return
	}
	s.endEvent(i, s.since(), "")
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
