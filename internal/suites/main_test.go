package suites

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// osaBin is the osa binary TestMain builds from cmd/osa.
var osaBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if raceEnabled {
		// The suites drive separate processes built without -race: the detector would watch
		// only this orchestration, at twice the run time. They run in the plain pass of
		// `make test`.
		fmt.Println("suites: not run under -race (they test separate osa processes; see the plain test pass)")
		return 0
	}
	if osaBin = os.Getenv("OSA_SUITE_BIN"); osaBin != "" {
		fmt.Println("suites: testing", osaBin, "(OSA_SUITE_BIN)")
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "osa-suites-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "suites:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if osaBin, err = buildOSA(dir); err != nil {
		fmt.Fprintln(os.Stderr, "suites:", err)
		return 1
	}
	return m.Run()
}

// buildOSA builds cmd/osa of this module into dir.
func buildOSA(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside the osa module")
	}
	bin := filepath.Join(dir, "osa")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/osa")
	cmd.Dir = filepath.Dir(gomod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/osa: %w\n%s", err, stderr.String())
	}
	return bin, nil
}

// suiteRecords is how many records the crash and scale-out suites publish (OSA_SUITE_RECORDS).
func suiteRecords(t testing.TB) int {
	t.Helper()
	v := os.Getenv("OSA_SUITE_RECORDS")
	if v == "" {
		return 2000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 {
		t.Fatalf("OSA_SUITE_RECORDS=%q: want a whole number of at least 100", v)
	}
	return n
}

// suiteOutage is how long the provider and the database stay down (OSA_SUITE_OUTAGE).
func suiteOutage(t testing.TB) time.Duration {
	t.Helper()
	v := os.Getenv("OSA_SUITE_OUTAGE")
	if v == "" {
		return 8 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		t.Fatalf("OSA_SUITE_OUTAGE=%q: want a duration of at least 1s, such as 30s", v)
	}
	return d
}

// suiteRand returns the test's random source, seeded from OSA_SUITE_SEED or the clock; the seed
// is logged so a failing run can be repeated.
func suiteRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("OSA_SUITE_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("OSA_SUITE_SEED=%q: want an unsigned integer", v)
		}
	}
	t.Logf("seed %d (OSA_SUITE_SEED=%d repeats this run's random choices)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
