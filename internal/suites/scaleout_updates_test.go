package suites

import "testing"

// TestScaleOutUpdates is [TestScaleOut] with updates: while one worker stops, every call of new
// records is followed by new versions of the previous call's records. It guards against two
// defects it found: batches holding the same records deadlocking (index_state rows must be
// locked in id order, by a statement of its own), and a record updated while the job of its
// previous version waits being indexed twice at its new version (an older job skips a record
// that has moved on).
func TestScaleOutUpdates(t *testing.T) {
	t.Parallel()
	scaleOut(t, true)
}
