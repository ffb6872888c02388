package bench

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/osa-archive/osa/jobs/pipeline"
)

// HistogramBuckets are the lower bounds of the batch-size histogram's buckets: 1, 2–15, 16–63,
// 64–127 and 128 or more (128 is the default batch.max_size).
var HistogramBuckets = []int{1, 2, 16, 64, 128}

// Bucket is one bucket of a batch-size histogram.
type Bucket struct {
	// Label is the bucket's range, "1", "2-15", ..., "128+".
	Label string `json:"label"`
	// Min and Max bound the sizes counted (Max 0: no upper bound).
	Min int `json:"min"`
	Max int `json:"max,omitempty"`
	// Batches is the number of batches whose size fell in the bucket.
	Batches int `json:"batches"`
}

// newHistogram returns the empty buckets of [HistogramBuckets].
func newHistogram() []Bucket {
	out := make([]Bucket, len(HistogramBuckets))
	for i, lo := range HistogramBuckets {
		b := Bucket{Min: lo}
		if i+1 < len(HistogramBuckets) {
			b.Max = HistogramBuckets[i+1] - 1
		}
		switch {
		case b.Max == 0:
			b.Label = strconv.Itoa(lo) + "+"
		case b.Max == lo:
			b.Label = strconv.Itoa(lo)
		default:
			b.Label = strconv.Itoa(lo) + "-" + strconv.Itoa(b.Max)
		}
		out[i] = b
	}
	return out
}

// addToHistogram counts one batch of size n.
func addToHistogram(h []Bucket, n int) {
	for i := len(h) - 1; i >= 0; i-- {
		if n >= h[i].Min {
			h[i].Batches++
			return
		}
	}
}

// batchObserver collects the [pipeline.BatchStats] of one scenario's server, per backend. It is
// safe for concurrent use: the gatherers call it from their batch goroutines.
type batchObserver struct {
	// notify receives a value after a batch (at most one waits: a wake-up, not a count).
	notify chan struct{}

	mu  sync.Mutex
	per map[string]*BatchSummary
}

func newBatchObserver() *batchObserver {
	return &batchObserver{notify: make(chan struct{}, 1), per: map[string]*BatchSummary{}}
}

// observe is the server's batch observer ([server.WithBatchObserver]).
func (o *batchObserver) observe(st pipeline.BatchStats) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.per[st.Backend]
	if !ok {
		s = &BatchSummary{Histogram: newHistogram(), Flush: map[string]int{}, FlushJobs: map[string]int{}}
		o.per[st.Backend] = s
	}
	s.Batches++
	s.Jobs += st.Size
	s.Succeeded += st.Succeeded
	s.Retried += st.Retried
	s.Snoozed += st.Snoozed
	s.Cancelled += st.Cancelled
	s.totalDuration += st.Duration
	addToHistogram(s.Histogram, st.Size)
	s.Flush[st.Reason]++
	s.FlushJobs[st.Reason] += st.Size
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// succeededJobs returns how many of backend's jobs succeeded so far.
func (o *batchObserver) succeededJobs(backend string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.per[backend]; ok {
		return s.Succeeded
	}
	return 0
}

// summary returns a copy of the backend's batches so far, with its means filled in.
func (o *batchObserver) summary(backend string) BatchSummary {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.per[backend]
	if !ok {
		return BatchSummary{Histogram: newHistogram(), Flush: map[string]int{}, FlushJobs: map[string]int{}}
	}
	out := *s
	out.Histogram = slices.Clone(s.Histogram)
	out.Flush = maps.Clone(s.Flush)
	out.FlushJobs = maps.Clone(s.FlushJobs)
	if out.Batches > 0 {
		out.MeanSize = float64(out.Jobs) / float64(out.Batches)
		out.MeanBatchMillis = float64(s.totalDuration) / float64(out.Batches) / float64(time.Millisecond)
	}
	return out
}
