package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// startGeoServer runs a server with two geo sources on fake, geo (enabled) and off (disabled),
// and returns its URL.
func startGeoServer(t *testing.T, fake *geotest.Server) string {
	t.Helper()
	return startClientServer(t, func(cfg *config.Config) {
		cfg.Sources = nil
		for _, name := range []string{"geo", "off"} {
			src := config.DefaultSource(name, config.SourceKindGeoEntrez)
			src.Enabled = name == "geo"
			src.Geo.Email = "ops@example.org"
			src.Geo.APIKey = "test-key" // 10 requests/s
			src.Geo.BaseURL = fake.URL()
			src.Geo.Timeout = time.Second
			cfg.Sources = append(cfg.Sources, src)
		}
	})
}

// mainArgsEnv makes the test binary run osa's main with the lines of its value as arguments
// (see runMain).
const mainArgsEnv = "OSA_TEST_MAIN_ARGS"

// runMain runs osa's main in a child process, as a shell would, with env added to the
// environment, and returns its standard output and error together, and its exit status.
func runMain(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainProcess$")
	cmd.Env = append(append(os.Environ(), env...), mainArgsEnv+"="+strings.Join(args, "\n"))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("osa %v: %v", args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// TestMainProcess is the child process of runMain; it is skipped in a normal run.
func TestMainProcess(t *testing.T) {
	args, ok := os.LookupEnv(mainArgsEnv)
	if !ok {
		t.Skip("the child process of runMain")
	}
	os.Args = append([]string{"osa"}, strings.Split(args, "\n")...)
	main() // exits 1 on an error; returns on success, and the test passes
}

func TestHarvestCommand(t *testing.T) {
	t.Parallel()
	t.Run("Wait", func(t *testing.T) {
		t.Parallel()
		url := startGeoServer(t, geotest.New(t, geotest.Series(20)))
		out, err := run(t, "harvest", "geo", "--server", url, "--limit", "12", "--chunk-size", "5", "--wait")
		if err != nil {
			t.Fatalf("osa harvest: %v\n%s", err, out)
		}
		t.Logf("osa harvest --wait printed:\n%s", out)
		for _, want := range []string{
			"harvest 1 of geo started (limit 12, all dates, chunks of 5)",
			"harvest 1 succeeded: 12 fetched, 12 published, 0 unchanged, 0 skipped in ",
		} {
			if !strings.Contains(out, want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		}

		// --json prints the ended harvest on standard output, the bar goes to standard error.
		out, errw := mustRunCLI(t, "", "harvest", "geo", "--server", url, "--limit", "12", "--wait", "--json", "--progress", "bar")
		var h osav1.GetHarvestResponse
		if err := protojson.Unmarshal([]byte(out), &h); err != nil || h.Harvest.GetId() != 2 || h.Harvest.GetState() != osav1.HarvestState_HARVEST_STATE_SUCCEEDED ||
			h.Harvest.GetFetched() != 12 || h.Harvest.GetUnchanged() != 12 || h.Harvest.GetPublished() != 0 || h.Harvest.GetFinishedAt() == nil {
			t.Fatalf("osa harvest --wait --json printed %s (%v)", out, err)
		}
		// It is the API's answer: GetHarvest of the same harvest, as curl shows it.
		requireSameJSON(t, "harvest --wait --json", out, callAPI(t, url, "osa.v1.SourceService/GetHarvest", `{"id": 2}`))
		if !strings.Contains(errw, "\r\033[K[") || !strings.Contains(errw, "] 100%  12 of 12 fetched") || !strings.Contains(errw, "records/s") {
			t.Fatalf("progress bar output:\n%q", errw)
		}

		// Without --wait, --json prints the harvest as started.
		out, _ = mustRunCLI(t, "", "harvest", "geo", "--server", url, "--json")
		var started osav1.StartHarvestResponse
		if err := protojson.Unmarshal([]byte(out), &started); err != nil || started.Harvest.GetId() != 3 || started.Harvest.GetSource() != "geo" ||
			started.Harvest.GetState() != osav1.HarvestState_HARVEST_STATE_RUNNING || started.Harvest.GetChunkSize() == 0 {
			t.Fatalf("osa harvest --json printed %s (%v)", out, err)
		}
		if !strings.Contains(out, `"chunkSize"`) || !strings.Contains(out, `"HARVEST_STATE_RUNNING"`) {
			t.Fatalf("osa harvest --json is not in the API's form (chunkSize, HARVEST_STATE_RUNNING):\n%s", out)
		}
	})
	t.Run("Failed", func(t *testing.T) {
		t.Parallel()
		fake := geotest.New(t, geotest.Series(5))
		fault := geotest.Fault{Status: 400, Body: "bad term"}
		fake.Fail("esearch", fault, fault) // harvests 1 and 2 fail, 3 succeeds
		url := startGeoServer(t, fake)
		out, err := run(t, "harvest", "geo", "--server", url, "--since", "2020-01-02", "--wait")
		if !errors.Is(err, sdk.ErrHarvestFailed) || !strings.Contains(err.Error(), "harvest 1 of geo failed: ") || !strings.Contains(err.Error(), "HTTP 400") {
			t.Fatalf("osa harvest of a failing source: %v, want an error naming the failure\n%s", err, out)
		}
		if !strings.Contains(out, "since 2020-01-02") || !strings.Contains(out, "harvest 1 failed: 0 fetched") {
			t.Fatalf("output:\n%s", out)
		}

		// The exit status of the osa process says whether the harvest succeeded.
		out, code := runMain(t, nil, "harvest", "geo", "--server", url, "--wait")
		if code != 1 || !strings.Contains(out, "harvest 2 failed: 0 fetched") || !strings.Contains(out, "osa: sdk: harvest 2 of geo failed: ") {
			t.Fatalf("osa harvest --wait of a failing harvest exited %d:\n%s", code, out)
		}
		out, code = runMain(t, []string{"OSA_SERVER=" + url}, "harvest", "geo", "--wait") // the server from the environment
		if code != 0 || !strings.Contains(out, "harvest 3 succeeded: 5 fetched, 5 published") {
			t.Fatalf("osa harvest --wait of a harvest that succeeds exited %d:\n%s", code, out)
		}
	})
	t.Run("NoWaitAndErrors", func(t *testing.T) {
		t.Parallel()
		fake := geotest.New(t, geotest.Series(5))
		_, release := fake.Hold(0) // harvest 1 stays running until the test ends
		url := startGeoServer(t, fake)
		t.Cleanup(release) // before the server stops
		out, err := run(t, "harvest", "geo", "--server", url)
		if err != nil || !strings.Contains(out, "harvest 1 of geo started") || !strings.Contains(out, "add --wait") {
			t.Fatalf("osa harvest without --wait: %v\n%s", err, out)
		}
		if _, err := run(t, "harvest", "geo", "--server", url); !errors.Is(err, sdk.ErrAlreadyExists) ||
			!strings.Contains(err.Error(), `harvest 1 of source "geo" is still running`) {
			t.Fatalf("a second harvest of a running source: %v", err)
		}
		if _, err := run(t, "harvest", "geo", "--server", url, "--since", "1 May"); err == nil || !strings.Contains(err.Error(), "since") {
			t.Fatalf("a bad --since: %v", err)
		}
		if _, err := run(t, "harvest", "nope", "--server", url); err == nil || !strings.Contains(err.Error(), "not_found") ||
			!strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("an unknown source: %v", err)
		}
		if _, err := run(t, "harvest", "off", "--server", url); !errors.Is(err, sdk.ErrFailedPrecondition) ||
			!strings.Contains(err.Error(), `"off" cannot be harvested until it is enabled`) {
			t.Fatalf("a disabled source: %v", err)
		}
		if _, err := run(t, "harvest", "--server", url); err == nil {
			t.Fatal("osa harvest without a source succeeded")
		}
		if _, err := run(t, "harvest", "geo", "--server", url, "--progress", "fancy"); err == nil || !strings.Contains(err.Error(), "--progress") {
			t.Fatalf("a bad --progress: %v", err)
		}
	})
}

// TestProgressBar checks the bar of the fetched / total gauge that osa harvest --wait draws.
func TestProgressBar(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		done, total int
		want        string
	}{
		{0, 0, "\r\033[K0 fetched"}, // an unknown total draws no bar
		{5, 10, "[" + strings.Repeat("#", 15) + strings.Repeat(".", 15) + "]  50%  5 fetched"},
		{12, 10, "[" + strings.Repeat("#", 30) + "] 100%  12 fetched"},
	} {
		var b bytes.Buffer
		p := newCountProgress(&b, "bar", 0)
		p.noun, p.total = "fetched", tc.total
		p.show(tc.done, 0, 0)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("%d of %d drew %q, want %q", tc.done, tc.total, b.String(), tc.want)
		}
	}
	if isTerminalWriter(&strings.Builder{}) {
		t.Fatal("a buffer is not a terminal")
	}
}
