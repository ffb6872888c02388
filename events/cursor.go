package events

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/osa-archive/osa/domainerr"
)

// cursorPrefix versions the text of a cursor.
const cursorPrefix = "e1:"

// Cursor is a place in the feed: the top-level transaction id that wrote an event (a
// PostgreSQL xid8) and the event's id within that transaction. A read after a cursor returns
// the events of greater places, (XID, ID) compared in that order, less those the cursor's
// Snapshot shows. The zero Cursor is before every event. Clients see it as an opaque string
// ([Cursor.String], [ParseCursor]).
type Cursor struct {
	XID uint64
	ID  int64
	// Snapshot, when not nil, is what is still ahead of the cursor of the snapshot an export
	// read ([SnapshotCursor]): a read after the cursor skips the events of the transactions the
	// snapshot shows, whose changes the export holds. Reads carry it on in the cursors they
	// return until they pass its Xmax. Nil on every other cursor.
	Snapshot *Snapshot
}

// Snapshot is the part of a PostgreSQL snapshot ahead of a [Cursor]: a transaction with an xid
// at or above the cursor's XID is visible in it when its xid is below Xmax and not in Xip.
type Snapshot struct {
	// Xmax is the first xid the snapshot did not see: every xid at or above it had not been
	// assigned yet when the snapshot was taken.
	Xmax uint64
	// Xip are the xids below Xmax, and at or above the cursor's XID, of the transactions that
	// were running when the snapshot was taken, in ascending order.
	Xip []uint64
}

// Compare returns -1, 0 or +1 as c is before, at or after d; the snapshots do not count.
func (c Cursor) Compare(d Cursor) int {
	if r := cmp.Compare(c.XID, d.XID); r != 0 {
		return r
	}
	return cmp.Compare(c.ID, d.ID)
}

// IsZero reports whether c is the zero Cursor, before every event.
func (c Cursor) IsZero() bool { return c.XID == 0 && c.ID == 0 && c.Snapshot == nil }

// Equal reports whether c and d are the same place with the same snapshot.
func (c Cursor) Equal(d Cursor) bool {
	if c.Compare(d) != 0 || (c.Snapshot == nil) != (d.Snapshot == nil) {
		return false
	}
	return c.Snapshot == nil || (c.Snapshot.Xmax == d.Snapshot.Xmax && slices.Equal(c.Snapshot.Xip, d.Snapshot.Xip))
}

// at returns the cursor of place p with what of c's snapshot is still ahead of p: nil once p
// has reached its Xmax, and without the running xids below p (events of those are behind p).
func (c Cursor) at(p Cursor) Cursor {
	p.Snapshot = nil
	s := c.Snapshot
	if s == nil || p.XID >= s.Xmax {
		return p
	}
	i, _ := slices.BinarySearch(s.Xip, p.XID)
	if i == 0 {
		p.Snapshot = s
	} else {
		p.Snapshot = &Snapshot{Xmax: s.Xmax, Xip: s.Xip[i:]}
	}
	return p
}

// snapshotText is the snapshot ahead of c as PostgreSQL's pg_snapshot reads it
// (xmin:xmax:xip,...), with c's XID as its xmin: nil when c has none.
func (c Cursor) snapshotText() any {
	if c.Snapshot == nil {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%d:", c.XID, c.Snapshot.Xmax)
	for i, x := range c.Snapshot.Xip {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(x, 10))
	}
	return b.String()
}

// String returns c as the opaque text clients keep; the zero Cursor is "". A cursor with a
// snapshot adds its Xmax and Xip: "e1:XID:ID:XMAX:XIP,XIP,…".
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	b := fmt.Appendf(nil, "%s%d:%d", cursorPrefix, c.XID, c.ID)
	if c.Snapshot != nil {
		b = fmt.Appendf(b, ":%d:", c.Snapshot.Xmax)
		for i, x := range c.Snapshot.Xip {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, x, 10)
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor reads the text of a cursor ([Cursor.String]); "" is the zero Cursor. Anything
// else is a [*domainerr.ValidationError] on field.
func ParseCursor(field, s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	bad := domainerr.Invalid(field, "is not a cursor this server returned: send the cursor of an event, a "+
		"next_cursor or an export's cursor as it was returned, or leave it empty to start at the oldest event kept")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	rest, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return Cursor{}, bad
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 2 && len(parts) != 4 {
		return Cursor{}, bad
	}
	var c Cursor
	if c.XID, err = strconv.ParseUint(parts[0], 10, 64); err != nil {
		return Cursor{}, bad
	}
	if c.ID, err = strconv.ParseInt(parts[1], 10, 64); err != nil || c.ID < 0 {
		return Cursor{}, bad
	}
	if len(parts) == 2 {
		return c, nil
	}
	snap := &Snapshot{}
	if snap.Xmax, err = strconv.ParseUint(parts[2], 10, 64); err != nil || snap.Xmax <= c.XID {
		return Cursor{}, bad
	}
	if parts[3] != "" {
		for _, f := range strings.Split(parts[3], ",") {
			x, err := strconv.ParseUint(f, 10, 64)
			last := c.XID
			if n := len(snap.Xip); n > 0 {
				last = snap.Xip[n-1] + 1
			}
			if err != nil || x < last || x >= snap.Xmax {
				return Cursor{}, bad
			}
			snap.Xip = append(snap.Xip, x)
		}
	}
	c.Snapshot = snap
	return c, nil
}
