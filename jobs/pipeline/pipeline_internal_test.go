package pipeline

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// JobTimeout 0 means River's default, as in River, and -1 no bound; a zero once made the fan-out
// gatherer panic.
func TestFanOutTimeout(t *testing.T) {
	t.Parallel()
	for in, want := range map[time.Duration]time.Duration{0: river.JobTimeoutDefault / 2, -1: -1, time.Minute: 30 * time.Second} {
		if got := fanOutTimeout(in); got != want {
			t.Errorf("fanOutTimeout(%v) = %v, want %v", in, got, want)
		}
	}
}

// A fan-out job carries the changes of its transaction; one of the former shape (one record,
// queued before an upgrade) still fans out its record, and a new one does not write the former
// fields.
func TestFanOutArgsChanges(t *testing.T) {
	t.Parallel()
	a, b := uuid.New(), uuid.New()
	var legacy FanOutArgs
	if err := json.Unmarshal([]byte(`{"record_id":"`+a.String()+`","version":3,"priority":1}`), &legacy); err != nil {
		t.Fatal(err)
	}
	if got := legacy.changes(); !slices.Equal(got, []FanOutChange{{RecordID: a, Version: 3}}) {
		t.Errorf("changes of a former job = %v", got)
	}
	args := FanOutArgs{Changes: []FanOutChange{{RecordID: a, Version: 1}, {RecordID: b, Version: 2}}, Priority: 3}
	js, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"changes":[{"record_id":"` + a.String() + `","version":1},{"record_id":"` + b.String() + `","version":2}],"priority":3}`
	if string(js) != want {
		t.Errorf("args = %s, want %s", js, want)
	}
	if got := args.changes(); !slices.Equal(got, args.Changes) {
		t.Errorf("changes = %v", got)
	}
}
