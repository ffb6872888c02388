package events

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/osa-archive/osa/domainerr"
)

// cursorPrefix versions the text of a cursor.
const cursorPrefix = "e1:"

// Cursor is a place in the feed: the top-level transaction id that wrote an event (a
// PostgreSQL xid8) and the event's id within that transaction. A read after a cursor returns
// the events of greater places, (XID, ID) compared in that order. The zero Cursor is before
// every event. Clients see it as an opaque string ([Cursor.String], [ParseCursor]).
type Cursor struct {
	XID uint64
	ID  int64
}

// Compare returns -1, 0 or +1 as c is before, at or after d.
func (c Cursor) Compare(d Cursor) int {
	if r := cmp.Compare(c.XID, d.XID); r != 0 {
		return r
	}
	return cmp.Compare(c.ID, d.ID)
}

// IsZero reports whether c is the zero Cursor, before every event.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// String returns c as the opaque text clients keep; the zero Cursor is "".
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%d:%d", cursorPrefix, c.XID, c.ID))
}

// ParseCursor reads the text of a cursor ([Cursor.String]); "" is the zero Cursor. Anything
// else is a [*domainerr.ValidationError] on field.
func ParseCursor(field, s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	bad := domainerr.Invalid(field, "is not a cursor this server returned: send the cursor of an event or a "+
		"next_cursor as it was returned, or leave it empty to start at the oldest event kept")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	rest, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return Cursor{}, bad
	}
	xid, id, ok := strings.Cut(rest, ":")
	if !ok {
		return Cursor{}, bad
	}
	var c Cursor
	if c.XID, err = strconv.ParseUint(xid, 10, 64); err != nil {
		return Cursor{}, bad
	}
	if c.ID, err = strconv.ParseInt(id, 10, 64); err != nil || c.ID < 0 {
		return Cursor{}, bad
	}
	return c, nil
}
