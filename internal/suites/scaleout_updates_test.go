//go:build osa_known_defects

package suites

import "testing"

// TestScaleOutUpdates is [TestScaleOut] with updates: while one worker stops, every call of new
// records is followed by new versions of the previous call's records. It fails on the product as
// of this writing, so it only builds with -tags osa_known_defects:
//
//   - concurrent batches holding the same records deadlock ("error marking records indexed:
//     ERROR: deadlock detected"), costing attempts: the FOR UPDATE of lockAndReadSQL in
//     jobs/index.go sits in a CTE the query never references, and PostgreSQL never runs an
//     unreferenced SELECT CTE, so index_state rows are not locked;
//   - a record updated while the job of its previous version waits is indexed twice at its new
//     version: the older job writes the record's current version, and then the newer job
//     writes it again.
//
// Remove the build constraint once both are fixed.
func TestScaleOutUpdates(t *testing.T) {
	t.Parallel()
	scaleOut(t, true)
}
