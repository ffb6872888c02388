package sdk

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// IndexState is where a record stands on one backend.
type IndexState string

const (
	// IndexPending: a version or a delete is queued for the backend and not written yet,
	// including while failed attempts are retried.
	IndexPending IndexState = "pending"
	// IndexIndexed: the backend holds the record's latest version.
	IndexIndexed IndexState = "indexed"
	// IndexFailed: the backend gave up after its retries; see LastError and
	// [Client.RetryFailed].
	IndexFailed IndexState = "failed"
	// IndexDeleted: the record was deleted and the backend dropped it.
	IndexDeleted IndexState = "deleted"
	// IndexEmpty: the record's latest version has no text the backend can index (LastError says
	// which fields it looked in); a terminal state, not a failure.
	IndexEmpty IndexState = "empty"
)

var indexStates = map[osav1.IndexState]IndexState{
	osav1.IndexState_INDEX_STATE_PENDING: IndexPending,
	osav1.IndexState_INDEX_STATE_INDEXED: IndexIndexed,
	osav1.IndexState_INDEX_STATE_FAILED:  IndexFailed,
	osav1.IndexState_INDEX_STATE_DELETED: IndexDeleted,
	osav1.IndexState_INDEX_STATE_EMPTY:   IndexEmpty,
}

// IndexStatus is how far a record has been indexed by every backend.
type IndexStatus struct {
	// SRN names the record. The API documents it with the latest version's "@{version}";
	// servers of today send it without, which names the latest version too.
	SRN string `json:"srn"`

	// Backends has one entry per configured backend, in configuration order.
	Backends []BackendStatus `json:"backends"`

	pb *osav1.GetIndexStatusResponse // what it was read from, for Proto
}

// Proto returns the API message s was read from, so that a caller can print the API's own
// JSON form (protojson, as the Connect JSON API answers), as osa --json does. It is nil for a
// IndexStatus not read from a server. The message is shared: do not modify it.
func (s *IndexStatus) Proto() *osav1.GetIndexStatusResponse { return s.pb }

// Backend returns the status on the backend named name, or nil.
func (s *IndexStatus) Backend(name string) *BackendStatus {
	for i := range s.Backends {
		if s.Backends[i].Backend == name {
			return &s.Backends[i]
		}
	}
	return nil
}

// BackendStatus is a record's status on one backend.
type BackendStatus struct {
	// Backend is the backend's name.
	Backend string `json:"backend"`

	// State is where the record stands on the backend.
	State IndexState `json:"state"`

	// IndexedVersion is the version the backend holds; 0 when none.
	IndexedVersion int `json:"indexed_version"`

	// PendingVersion is the version waiting to be written; 0 when nothing is pending.
	PendingVersion int `json:"pending_version"`

	// Attempts is how many attempts were made to index PendingVersion.
	Attempts int `json:"attempts"`

	// LastError is the error of the latest failed attempt; empty when none failed.
	LastError string `json:"last_error,omitempty"`

	// IndexedAt is when IndexedVersion was written; nil when the backend holds none.
	IndexedAt *time.Time `json:"indexed_at,omitempty"`

	// UpdatedAt is when this status last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

// IndexStatus returns how far the record srn (with or without "@{version}") has been indexed
// by every backend. Errors: [ErrInvalidArgument] (field "srn"), [ErrNotFound].
func (c *Client) IndexStatus(ctx context.Context, srn string) (*IndexStatus, error) {
	res, err := unary(ctx, c, osav1connect.RecordServiceGetIndexStatusProcedure, true,
		&osav1.GetIndexStatusRequest{Srn: srn}, c.records.GetIndexStatus)
	if err != nil {
		return nil, err
	}
	return &IndexStatus{SRN: res.Srn, Backends: fromBackendStatuses(res.Statuses), pb: res}, nil
}

// fromBackendStatuses converts statuses.
func fromBackendStatuses(sts []*osav1.BackendIndexStatus) []BackendStatus {
	out := make([]BackendStatus, len(sts))
	for i, s := range sts {
		out[i] = BackendStatus{
			Backend:        s.Backend,
			State:          indexStates[s.State],
			IndexedVersion: int(s.IndexedVersion),
			PendingVersion: int(s.PendingVersion),
			Attempts:       int(s.Attempts),
			LastError:      s.LastError,
			IndexedAt:      fromTimePtr(s.IndexedAt),
			UpdatedAt:      fromTime(s.UpdatedAt),
		}
	}
	return out
}

// IndexFailedError is the error of [Client.WaitIndexed] when a backend gave up indexing the
// record. errors.Is(err, [ErrIndexFailed]) holds for it.
type IndexFailedError struct {
	// SRN names the record (see [IndexStatus].SRN).
	SRN string
	// Backend is the backend that gave up.
	Backend string
	// LastError is the backend's last error.
	LastError string
}

// Error returns e.g. `sdk: backend "vector" failed to index urn:osa:...: embedder timeout`.
func (e *IndexFailedError) Error() string {
	return fmt.Sprintf("sdk: backend %q failed to index %s: %s", e.Backend, e.SRN, e.LastError)
}

// Is reports whether target is [ErrIndexFailed].
func (e *IndexFailedError) Is(target error) bool { return target == ErrIndexFailed }

// WaitIndexed polls the record's index status until the named backends (every backend when
// none is named) hold the record as it is now, and returns the last status. A backend holds a
// record once it has indexed its latest version, or the version srn names ("@{version}") or a
// later one; a deleted record, once the backend dropped it.
//
// WaitIndexed first reads the record (one [Client.Get]) to learn its latest version and whether
// it is deleted: until the server's fan-out reaches a new version or a delete, a backend's
// status still shows the previous state. Polls are then spaced as [WithPollInterval] says.
// WaitIndexed returns an [*IndexFailedError] (and the status) as soon as one of the backends
// gave up, an [ErrInvalidArgument] error when a named backend does not exist, any error of
// [Client.Get] and [Client.IndexStatus], and ctx's error when ctx ends first: give ctx a
// deadline.
func (c *Client) WaitIndexed(ctx context.Context, srn string, backends ...string) (*IndexStatus, error) {
	id, v, hasVersion := strings.Cut(srn, "@")
	rec, err := c.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	want, deleted := rec.Version, rec.DeletedAt != nil
	if hasVersion {
		if n, err := strconv.Atoi(v); err == nil {
			want = n
		}
	}
	p := c.newPoller()
	for {
		st, err := c.IndexStatus(ctx, srn)
		if err != nil {
			return nil, err
		}
		for _, b := range backends {
			if st.Backend(b) == nil {
				names := make([]string, len(st.Backends))
				for i, s := range st.Backends {
					names[i] = s.Backend
				}
				return st, &Error{Code: CodeInvalidArgument, Field: "backends",
					Message: fmt.Sprintf("backends: %q is not a configured backend (one of %v)", b, names)}
			}
		}
		done := true
		for _, s := range st.Backends {
			if len(backends) > 0 && !slices.Contains(backends, s.Backend) {
				continue
			}
			switch s.State {
			case IndexFailed:
				if !deleted && s.PendingVersion != 0 && s.PendingVersion < want {
					done = false // an older version failed; the fan-out has not reached this one yet
					continue
				}
				return st, &IndexFailedError{SRN: st.SRN, Backend: s.Backend, LastError: s.LastError}
			case IndexIndexed, IndexEmpty:
				done = done && !deleted && s.IndexedVersion >= want
			case IndexDeleted:
			default:
				done = false
			}
		}
		if done {
			return st, nil
		}
		if err := p.wait(ctx); err != nil {
			return st, err
		}
	}
}
