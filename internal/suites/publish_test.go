package suites

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// suiteSource is the source of every record a suite publishes: records are upserts by
// (source, source_id), so a record can be updated and a batch sent again.
const suiteSource = "suite"

// pubBatch is one PublishRecords call: its records carry the batch's id in their metadata
// ("batch"), so the database tells which call wrote them.
type pubBatch struct {
	ID        string
	SourceIDs []string
	Rev       int // the metadata revision: an update sends the same records with Rev+1

	// Set by send.
	Acked    bool
	Versions []int32 // per record, when Acked
	Err      error   // of the last attempt, when not Acked
	Code     connect.Code
}

// publisher sends batches to an API process and remembers every batch and its outcome.
type publisher struct {
	base   func() string // the API's base URL (it may change on restart)
	client *http.Client

	mu      sync.Mutex
	seq     int
	nextID  int
	batches []*pubBatch
}

func newPublisher(base func() string) *publisher {
	return &publisher{base: base, client: &http.Client{Timeout: 30 * time.Second}}
}

// newBatch returns a batch of n new records, not sent.
func (p *publisher) newBatch(n int) *pubBatch {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	b := &pubBatch{ID: fmt.Sprintf("b%05d", p.seq), Rev: 1}
	for range n {
		p.nextID++
		b.SourceIDs = append(b.SourceIDs, fmt.Sprintf("r%07d", p.nextID))
	}
	return b
}

// updateOf returns a batch that publishes b's records again with new metadata, not sent.
func (p *publisher) updateOf(b *pubBatch) *pubBatch {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	return &pubBatch{ID: fmt.Sprintf("b%05d", p.seq), SourceIDs: b.SourceIDs, Rev: b.Rev + 1}
}

// metadata is record sid's metadata in batch b: text for both backends, and the batch id.
func metadata(b *pubBatch, sid string) map[string]any {
	return map[string]any{
		"title":   fmt.Sprintf("Record %s revision %d: gene expression atlas of tissue %s", sid, b.Rev, sid[len(sid)-2:]),
		"summary": fmt.Sprintf("Samples sequenced for batch %s; organism %s.", b.ID, sid[len(sid)-1:]),
		"batch":   b.ID,
		"rev":     b.Rev,
	}
}

// send publishes b in one PublishRecords call and records the outcome in b (a batch sent again
// keeps its last outcome). It returns the call's error.
func (p *publisher) send(ctx context.Context, b *pubBatch) error {
	req := &osav1.PublishRecordsRequest{}
	for _, sid := range b.SourceIDs {
		m, err := structpb.NewStruct(metadata(b, sid))
		if err != nil {
			return err
		}
		req.Records = append(req.Records, &osav1.PublishRecordRequest{Metadata: m, Source: suiteSource, SourceId: sid})
	}
	p.mu.Lock()
	if !slices.Contains(p.batches, b) {
		p.batches = append(p.batches, b)
	}
	p.mu.Unlock()

	client := osav1connect.NewRecordServiceClient(p.client, p.base())
	resp, err := client.PublishRecords(ctx, connect.NewRequest(req))
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		b.Err, b.Code = err, connect.CodeOf(err)
		return err
	}
	if len(resp.Msg.Records) != len(b.SourceIDs) {
		b.Err = fmt.Errorf("%d records in the answer for %d sent", len(resp.Msg.Records), len(b.SourceIDs))
		return b.Err
	}
	b.Acked, b.Err = true, nil
	b.Versions = make([]int32, len(resp.Msg.Records))
	for i, r := range resp.Msg.Records {
		if r.SourceId != b.SourceIDs[i] {
			b.Err = fmt.Errorf("record %d of the answer is %q, sent %q", i, r.SourceId, b.SourceIDs[i])
			b.Acked = false
			return b.Err
		}
		b.Versions[i] = r.Version
	}
	return nil
}

// all returns every batch sent, in the order first sent.
func (p *publisher) all() []*pubBatch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.batches)
}

// ackedRecords counts the records of acknowledged batches (updates included).
func (p *publisher) ackedRecords() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, b := range p.batches {
		if b.Acked {
			n += len(b.SourceIDs)
		}
	}
	return n
}

// stored is a record as the database holds it.
type stored struct {
	version int
	batch   string
}

// checkPublished compares the records in the database with what the publisher sent. A record
// stands as its last acknowledged batch wrote it, or as an unacknowledged batch sent later wrote
// it; an unacknowledged batch is all or nothing: all its records carry its id, or none does. It
// returns the number of unacknowledged batches found committed and found absent.
func checkPublished(t *testing.T, s *suite, p *publisher) (committed, absent int) {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT source_id, version, metadata->>'batch' FROM records WHERE source = $1`, suiteSource)
	if err != nil {
		t.Fatal(err)
	}
	db := map[string]stored{}
	byBatch := map[string]int{}
	for rows.Next() {
		var (
			sid string
			st  stored
		)
		if err := rows.Scan(&sid, &st.version, &st.batch); err != nil {
			t.Fatal(err)
		}
		db[sid] = st
		byBatch[st.batch]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n := s.mustCount(`SELECT count(*) FROM records WHERE source IS DISTINCT FROM $1`, suiteSource); n != 0 {
		t.Errorf("%d records of no suite batch", n)
	}

	batches := p.all()
	order := map[string]int{}
	byID := map[string]*pubBatch{}
	for i, b := range batches {
		order[b.ID], byID[b.ID] = i, b
	}
	// The last acknowledged write of every record.
	type ack struct {
		batch   *pubBatch
		version int
	}
	last := map[string]ack{}
	for _, b := range batches {
		if !b.Acked {
			continue
		}
		for i, sid := range b.SourceIDs {
			last[sid] = ack{b, int(b.Versions[i])}
		}
	}
	bad := 0
	for sid, a := range last {
		st, ok := db[sid]
		switch {
		case !ok:
			t.Errorf("record %s was acknowledged (batch %s, version %d) but is missing", sid, a.batch.ID, a.version)
		case st.batch == a.batch.ID && st.version != a.version:
			t.Errorf("record %s: version %d in the database, acknowledged %d by batch %s", sid, st.version, a.version, a.batch.ID)
		case st.batch != a.batch.ID:
			b, known := byID[st.batch]
			if !known || b.Acked || order[b.ID] < order[a.batch.ID] {
				t.Errorf("record %s: written by batch %q, but its last acknowledged write was batch %s", sid, st.batch, a.batch.ID)
			}
		default:
			continue
		}
		if bad++; bad > 20 {
			t.Fatal("too many errors")
		}
	}
	for sid, st := range db {
		if _, ok := last[sid]; ok {
			continue
		}
		if b, known := byID[st.batch]; !known || b.Acked {
			t.Errorf("record %s: written by batch %q, which was not sent unacknowledged", sid, st.batch)
		}
	}
	for _, b := range batches {
		if b.Acked {
			continue
		}
		switch n := byBatch[b.ID]; n {
		case 0:
			absent++
		case len(b.SourceIDs):
			committed++
		default:
			t.Errorf("unacknowledged batch %s is half there: %d of its %d records (%v)", b.ID, n, len(b.SourceIDs), b.Err)
		}
	}
	return committed, absent
}
