package bench

import (
	"os"
	"runtime"
	"testing"
)

func TestCPUMeter(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	st, ok := readProcStat(os.Getpid())
	if !ok || st.comm == "" || st.ppid != os.Getppid() {
		t.Fatalf("readProcStat(self) = %+v, %v", st, ok)
	}
	if _, ok := readProcStat(-1); ok {
		t.Fatal("readProcStat(-1) succeeded")
	}

	// Without a local server the machine's use is known, the benchmark's share is not.
	m := &cpuMeter{}
	r0 := m.read()
	for i := 0; i < 50_000_000; i++ { // burn some CPU so the interval is not empty
		_ = i * i
	}
	u := r0.until(m.read())
	if !r0.ok || u.Attributed || u.Busy < 0 || u.Busy > 100 {
		t.Fatalf("CPU use %+v", u)
	}

	if got := (CPUUse{Busy: 93, Attributed: true, Ours: 91, Others: 2}).String(); got != "busy 93 % (others 2 %), iowait 0 %, steal 0 %" {
		t.Fatalf("String() = %q", got)
	}
}
