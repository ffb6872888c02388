package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Machine describes where a benchmark ran.
type Machine struct {
	// NumCPU is the number of logical CPUs (nproc); GOMAXPROCS is Go's share of them.
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	MemTotal   string `json:"mem_total,omitempty"`
	GoVersion  string `json:"go_version"`
	// Revision is the commit the binary was built from (Go's VCS stamp), with "+modified" when
	// its work tree had changes; "" when the build has no stamp (go test, go run).
	Revision string `json:"revision,omitempty"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	// Postgres are the server's version and the settings that bear on ingest, as SHOW prints them.
	Postgres PostgresInfo `json:"postgres"`
	// Nice is the benchmark's scheduling niceness (its PostgreSQL server inherits it when the
	// benchmark starts it): below 0, it ran ahead of other processes on a shared machine.
	Nice int `json:"nice"`
	// CPUBefore is the machine's CPU use in the second before the benchmark started: the load
	// of everything else.
	CPUBefore CPUUse `json:"cpu_before"`
	// LoadBefore is the load average then.
	LoadBefore string `json:"load_before,omitempty"`
	// CPUAfter is the machine's CPU use in the second after the last measurement: a busy
	// machine then means something else ran beside the benchmark.
	CPUAfter CPUUse `json:"cpu_after"`
}

// PostgresInfo is the server's version and the settings that bear on ingest.
type PostgresInfo struct {
	Version            string `json:"server_version"`
	Pgvector           string `json:"pgvector"`
	SharedBuffers      string `json:"shared_buffers"`
	MaintenanceWorkMem string `json:"maintenance_work_mem"`
	// MaxParallelMaintenanceWorkers is max_parallel_maintenance_workers: the workers an index
	// build (HNSW, GIN) may take beside its leader.
	MaxParallelMaintenanceWorkers string `json:"max_parallel_maintenance_workers"`
	WorkMem                       string `json:"work_mem"`
	MaxWALSize                    string `json:"max_wal_size"`
	Fsync                         string `json:"fsync"`
	SynchronousCommit             string `json:"synchronous_commit"`
	MaxConnections                string `json:"max_connections"`
	// TrackCommitTimestamp is track_commit_timestamp: "on" makes the freshness figures exact
	// (see [FreshnessCommitTimestamp]).
	TrackCommitTimestamp string `json:"track_commit_timestamp"`
}

// machineInfo describes this machine and the server of adminURL.
func machineInfo(ctx context.Context, adminURL string) (Machine, error) {
	m := Machine{
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPUModel:   procField("/proc/cpuinfo", "model name"),
		MemTotal:   memTotal(),
		GoVersion:  runtime.Version(),
		Revision:   revision(),
		Nice:       niceness(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return m, fmt.Errorf("error connecting to the admin database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	p := &m.Postgres
	for _, s := range []struct {
		name string
		dst  *string
	}{
		{"server_version", &p.Version},
		{"shared_buffers", &p.SharedBuffers},
		{"maintenance_work_mem", &p.MaintenanceWorkMem},
		{"max_parallel_maintenance_workers", &p.MaxParallelMaintenanceWorkers},
		{"work_mem", &p.WorkMem},
		{"max_wal_size", &p.MaxWALSize},
		{"fsync", &p.Fsync},
		{"synchronous_commit", &p.SynchronousCommit},
		{"max_connections", &p.MaxConnections},
		{"track_commit_timestamp", &p.TrackCommitTimestamp},
	} {
		if err := conn.QueryRow(ctx, "SHOW "+s.name).Scan(s.dst); err != nil {
			return m, fmt.Errorf("error reading %s: %w", s.name, err)
		}
	}
	// The admin database need not have the extension; the version scratch databases get is the
	// default one.
	_ = conn.QueryRow(ctx, "SELECT coalesce(default_version, '') FROM pg_available_extensions WHERE name = 'vector'").Scan(&p.Pgvector)
	return m, nil
}

// niceness returns this process's nice value from /proc/self/stat (0 without it).
func niceness() int {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 17 {
		return 0
	}
	n, _ := strconv.Atoi(f[16]) // state ppid ... priority nice
	return n
}

// revision returns the binary's VCS revision, "" without one.
func revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" && modified == "true" {
		rev += "+modified"
	}
	return rev
}

// procField returns the value of the first "key: value" line of a /proc file, "" when there is
// none (and on systems without /proc).
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// memTotal returns the machine's memory in GiB, "" when unknown.
func memTotal() string {
	kb, err := strconv.ParseFloat(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 64)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%.1f GiB", kb/(1<<20))
}

// loadAvg returns the 1-, 5- and 15-minute load averages ("" without /proc/loadavg): the
// benchmark runs on shared machines, and its figures mean little without the load beside them.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// machineBefore describes this machine and the server of adminURL, with the load average and
// the CPU use of the second before a benchmark starts, and returns the meter that reads the
// CPU use after it.
func machineBefore(ctx context.Context, adminURL string) (Machine, *cpuMeter, error) {
	m, err := machineInfo(ctx, adminURL)
	if err != nil {
		return m, nil, err
	}
	cpu := newCPUMeter(ctx, adminURL)
	m.LoadBefore = loadAvg()
	m.CPUBefore = cpu.sample(ctx, time.Second)
	return m, cpu, nil
}

// writeHeader writes a report's title, the command that produced it (when known), and one line
// on where and when it ran: the date, the CPUs (and their model), the memory, Go, the build's
// revision, PostgreSQL with pgvector, shared_buffers and the report's own settings (e.g.
// "maintenance_work_mem 4GB"), and the machine's use before the run.
func (m Machine) writeHeader(b *strings.Builder, title, command string, date time.Time, settings ...string) {
	fmt.Fprintf(b, "# %s\n\n", title)
	if command != "" {
		fmt.Fprintf(b, "Produced by:\n\n```\n%s\n```\n\n", command)
	}
	cpus := fmt.Sprintf("%d CPUs", m.NumCPU)
	if m.CPUModel != "" {
		cpus += " (" + m.CPUModel + ")"
	}
	parts := []string{date.UTC().Format("2006-01-02 15:04 UTC"), cpus}
	if m.MemTotal != "" {
		parts = append(parts, m.MemTotal)
	}
	parts = append(parts, m.GoVersion)
	if m.Revision != "" {
		parts = append(parts, "built from "+m.Revision)
	}
	pg := append([]string{"PostgreSQL " + m.Postgres.Version, "pgvector " + orDash(m.Postgres.Pgvector),
		"shared_buffers " + m.Postgres.SharedBuffers}, settings...)
	parts = append(parts, strings.Join(pg, ", "),
		fmt.Sprintf("before the run: CPU %s, load average %s", m.CPUBefore, orDash(m.LoadBefore)))
	b.WriteString(strings.Join(parts, " · ") + "\n\n")
}
