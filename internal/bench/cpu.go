package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CPUUse is how busy the machine's CPUs were over an interval, in percent of all CPUs, from
// /proc/stat (Linux; zero elsewhere).
type CPUUse struct {
	// Busy is user + system time (with nice, irq and softirq) of every process.
	Busy float64 `json:"busy_pct"`
	// Attributed says Ours and Others are known: the PostgreSQL server runs on this machine.
	Attributed bool `json:"attributed"`
	// Ours is the part of Busy spent by this process and by the PostgreSQL server the
	// benchmark uses; Others is the rest: anything else running beside the benchmark.
	Ours   float64 `json:"ours_pct"`
	Others float64 `json:"others_pct"`
	// IOWait is idle time with I/O outstanding (commit fsyncs, for instance).
	IOWait float64 `json:"iowait_pct"`
	// Steal is time the hypervisor gave to other guests.
	Steal float64 `json:"steal_pct"`
}

// String formats u as "busy 93 % (others 2 %), iowait 0 %, steal 0 %".
func (u CPUUse) String() string {
	others := ""
	if u.Attributed {
		others = fmt.Sprintf(" (others %.0f %%)", u.Others)
	}
	return fmt.Sprintf("busy %.0f %%%s, iowait %.0f %%, steal %.0f %%", u.Busy, others, u.IOWait, u.Steal)
}

// cpuMeter reads the machine's CPU times and those of the benchmark: this process and the
// PostgreSQL server of the admin URL when it runs here. The benchmark shares its machine, so a
// figure means little without what else ran beside it.
type cpuMeter struct {
	// postmaster is the PostgreSQL server's main process; 0 when it is not on this machine.
	postmaster int
	// pids, when set, returns more processes of the benchmark (the soak's osa processes, which
	// count in this process's children's times only once they have exited).
	pids func() []int
}

// newCPUMeter finds the server of adminURL among this machine's processes: the parent of the
// backend serving a connection, when /proc shows both as postgres.
func newCPUMeter(ctx context.Context, adminURL string) *cpuMeter {
	m := &cpuMeter{}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return m
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return m
	}
	st, ok := readProcStat(backend)
	if !ok || !strings.HasPrefix(st.comm, "postgres") {
		return m // another machine's server, or a PID namespace apart
	}
	if pm, ok := readProcStat(st.ppid); ok && strings.HasPrefix(pm.comm, "postgres") {
		m.postmaster = st.ppid
	}
	return m
}

// cpuReading is one reading of the machine's and the benchmark's CPU times, in clock ticks.
type cpuReading struct {
	busy, iowait, steal, total uint64
	ours                       uint64
	ok, oursOK                 bool
}

// read reads the machine's CPU times (the first line of /proc/stat) and the benchmark's: this
// process, the postmaster with the children it has reaped, and its live children.
func (m *cpuMeter) read() cpuReading {
	var r cpuReading
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return r
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return r
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
			return r
		}
	}
	r.busy, r.iowait, r.steal, r.ok = v[0]+v[1]+v[2]+v[5]+v[6], v[4], v[7], true
	for _, x := range v {
		r.total += x
	}

	self, ok := readProcStat(os.Getpid())
	if !ok || m == nil || m.postmaster == 0 {
		return r
	}
	pm, ok := readProcStat(m.postmaster)
	if !ok {
		return r
	}
	r.ours = self.utime + self.stime + self.cutime + self.cstime + pm.utime + pm.stime + pm.cutime + pm.cstime
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if c, ok := readProcStat(pid); ok && c.ppid == m.postmaster {
			r.ours += c.utime + c.stime
		}
	}
	if m.pids != nil {
		for _, pid := range m.pids() {
			if c, ok := readProcStat(pid); ok {
				r.ours += c.utime + c.stime
			}
		}
	}
	r.oursOK = true
	return r
}

// until returns the CPU use between r and a later reading s; zero when either is missing.
func (r cpuReading) until(s cpuReading) CPUUse {
	if !r.ok || !s.ok || s.total <= r.total {
		return CPUUse{}
	}
	d := float64(s.total - r.total)
	u := CPUUse{
		Busy:   100 * float64(s.busy-r.busy) / d,
		IOWait: 100 * float64(s.iowait-r.iowait) / d,
		Steal:  100 * float64(s.steal-r.steal) / d,
	}
	if r.oursOK && s.oursOK && s.ours >= r.ours {
		u.Attributed = true
		u.Ours = min(100*float64(s.ours-r.ours)/d, u.Busy)
		u.Others = u.Busy - u.Ours
	}
	return u
}

// sample measures the CPU use over d.
func (m *cpuMeter) sample(ctx context.Context, d time.Duration) CPUUse {
	r := m.read()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return r.until(m.read())
}

// procStat is what the benchmark reads of /proc/<pid>/stat; times are in clock ticks.
type procStat struct {
	comm                         string
	ppid                         int
	utime, stime, cutime, cstime uint64
}

// readProcStat reads /proc/<pid>/stat; ok is false when the process is gone (or there is no /proc).
func readProcStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	// pid (comm) state ppid ...: comm may hold spaces and parentheses, so cut at the last ')'.
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(s[end+1:]) // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
	if len(f) < 15 {
		return procStat{}, false
	}
	st := procStat{comm: s[open+1 : end]}
	var errs [5]error
	st.ppid, errs[0] = strconv.Atoi(f[1])
	st.utime, errs[1] = strconv.ParseUint(f[11], 10, 64)
	st.stime, errs[2] = strconv.ParseUint(f[12], 10, 64)
	cutime, err3 := strconv.ParseInt(f[13], 10, 64)
	cstime, err4 := strconv.ParseInt(f[14], 10, 64)
	errs[3], errs[4] = err3, err4
	for _, err := range errs {
		if err != nil {
			return procStat{}, false
		}
	}
	st.cutime, st.cstime = uint64(max(cutime, 0)), uint64(max(cstime, 0))
	return st, true
}
