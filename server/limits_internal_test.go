package server

import "testing"

// Reads take at most max × (1 − reserve) slots; writes may take every slot; a released slot is
// free again; max 0 caps nothing.
func TestInFlight(t *testing.T) {
	t.Parallel()
	f := newInFlight(4, 0.5)
	for i, tt := range []struct {
		write bool
		want  bool
	}{{false, true}, {false, true}, {false, false}, {true, true}, {true, true}, {true, false}} {
		if got := f.acquire(tt.write); got != tt.want {
			t.Fatalf("acquire %d (write %v) = %v, want %v", i, tt.write, got, tt.want)
		}
	}
	f.release(true)
	if f.acquire(false) {
		t.Fatal("a read took a write's freed slot beyond the reads' share")
	}
	if !f.acquire(true) {
		t.Fatal("a write could not take the freed slot")
	}
	f.release(false)
	if !f.acquire(false) {
		t.Fatal("a read could not take a read's freed slot")
	}
	none := newInFlight(0, 0.25)
	for range 1000 {
		if !none.acquire(false) {
			t.Fatal("max 0 refused a call")
		}
	}
}
