package suites

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// scrape reads the process's /metrics into a map from series (the sample line before the value,
// e.g. `osa_jobs_total{kind="osa_fanout",outcome="completed",queue="fanout"}`; Prometheus writes
// labels sorted by name) to value.
func (p *proc) scrape() (map[string]float64, error) {
	resp, err := probeClient.Get(p.url() + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: GET /metrics: %s", p.name, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// freshness returns, from metrics, the count of the osa_index_freshness_seconds observations of
// backend and how many of them were at most le seconds (le must be one of its bucket bounds).
func freshness(metrics map[string]float64, backend, le string) (count, within float64, err error) {
	count, ok := metrics[fmt.Sprintf(`osa_index_freshness_seconds_count{backend=%q}`, backend)]
	if !ok {
		return 0, 0, fmt.Errorf("no osa_index_freshness_seconds_count of backend %s", backend)
	}
	within, ok = metrics[fmt.Sprintf(`osa_index_freshness_seconds_bucket{backend=%q,le=%q}`, backend, le)]
	if !ok {
		return 0, 0, fmt.Errorf("no osa_index_freshness_seconds bucket le=%s of backend %s", le, backend)
	}
	return count, within, nil
}
