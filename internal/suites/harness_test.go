package suites

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestProcRestart checks the harness itself: a killed process starts again on its address, and
// moves to a new one when another socket took the port meanwhile.
func TestProcRestart(t *testing.T) {
	t.Parallel()
	s := newSuite(t, pgtest.NewURL(t))
	p := s.newProc("osa", roleWorker, s.writeConfig("osa", configOpts{}))
	p.mustStart(t)
	first := p.url()
	if err := p.kill(); err != nil {
		t.Fatal(err)
	}
	p.mustStart(t)
	if p.url() != first {
		t.Fatalf("restarted on %s, want %s", p.url(), first)
	}
	if err := p.kill(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(first, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p.mustStart(t)
	if p.url() == first {
		t.Fatalf("restarted on %s, which another socket holds", first)
	}
	if got := len(p.riverIDs()); got != 3 {
		t.Errorf("%d River client ids for 3 lives", got)
	}
	if err := p.stop(30 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
}
