package replicas

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of a [Config].
const (
	MaxLagDefault        = 5 * time.Second
	ProbeIntervalDefault = time.Second
)

// Primary is the target a read on the primary is counted under ([Config.OnRead]).
const Primary = "primary"

// Why a read went where it went ([Config.OnRead]).
const (
	// ReasonReplica: a replica within the lag bound took the read.
	ReasonReplica = "replica"
	// ReasonNoReplica: no replica was up and within the lag bound, so the primary took the read.
	ReasonNoReplica = "no_replica"
	// ReasonAfterWrite: the reader has just written (read-your-writes), so the primary took the
	// read.
	ReasonAfterWrite = "after_write"
	// ReasonRetry: the read failed on its replica ([Router.Retry]) and is asked again of the
	// primary.
	ReasonRetry = "retry"
)

// Config configures a [Router].
type Config struct {
	// MaxLag is how far behind the primary a replica may be and still take reads
	// (database.max_replica_lag). Defaults to 5s.
	MaxLag time.Duration
	// ProbeInterval is how often [Router.Run] measures every replica (database.replica_probe_interval).
	// Defaults to 1s.
	ProbeInterval time.Duration
	// OnRead, when set, is called for every read the router routes ([Router.Read],
	// [Router.ReadPrimary], [Router.Retry]) with where it went ([Primary] or a replica's name) and
	// why (a Reason… constant). It must be fast and safe for concurrent use.
	OnRead func(target, reason string)
	// Logger logs replicas going down, coming back, and lagging beyond MaxLag. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with every zero setting replaced by its default.
func (c Config) WithDefaults() Config {
	if c.MaxLag == 0 {
		c.MaxLag = MaxLagDefault
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = ProbeIntervalDefault
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Replica is a streaming replica of the primary that reads may go to.
type Replica struct {
	// Name names the replica in metrics and logs (host:port).
	Name string
	// Pool is the replica's connection pool.
	Pool *pgxpool.Pool
}

// Router picks the pool of each read: a replica that is up and within Config.MaxLag of the
// primary, the least busy of them, else the primary. It is safe for concurrent use.
type Router struct {
	cfg      Config
	primary  *pgxpool.Pool
	replicas []*replica
	// samples are the primary's WAL positions as probes read them ([Router.Probe]).
	samples history
	// next turns the choice between equally busy replicas round-robin.
	next atomic.Uint64
}

// New returns a router of reads between primary and replicas, which takes over the replicas'
// pools ([Router.Close] closes them); the replicas take no read until a probe has measured them
// ([Router.Run], [Router.Probe]). With no replicas every read goes to the primary, uncounted.
func New(primary *pgxpool.Pool, replicas []Replica, cfg Config) *Router {
	r := &Router{cfg: cfg.WithDefaults(), primary: primary}
	for _, rep := range replicas {
		r.replicas = append(r.replicas, newReplica(rep))
	}
	// Older samples would only say that a replica lags beyond the bound, which the time of its
	// last replayed transaction, or its last measurement, says too.
	r.samples.keep = r.cfg.MaxLag + 2*r.cfg.ProbeInterval
	return r
}

// Close closes the replicas' pools; the primary's is the caller's.
func (r *Router) Close() {
	for _, rep := range r.replicas {
		rep.Pool.Close()
	}
}

// Enabled reports whether the router has replicas to route reads to.
func (r *Router) Enabled() bool { return len(r.replicas) > 0 }

// route is the pool of one read, kept in its context.
type route struct {
	router  *Router
	replica *replica // nil: the primary
}

type routeKey struct{}

// routeOf returns the route r pinned in ctx, nil when there is none.
func (r *Router) routeOf(ctx context.Context) *route {
	rt, _ := ctx.Value(routeKey{}).(*route)
	if rt == nil || rt.router != r {
		return nil
	}
	return rt
}

// Read returns ctx with the pool of one read request pinned to it: the least busy replica that
// is up and within the lag bound, else the primary. Every statement of the request then runs on
// that pool ([Router.Pool]), so a request never sees two replicas' different pasts.
func (r *Router) Read(ctx context.Context) context.Context {
	if !r.Enabled() {
		return ctx
	}
	if rep := r.pick(time.Now()); rep != nil {
		return r.pin(ctx, rep, ReasonReplica)
	}
	return r.pin(ctx, nil, ReasonNoReplica)
}

// ReadPrimary returns ctx with the primary pinned for a read that must see the latest writes,
// counted under reason.
func (r *Router) ReadPrimary(ctx context.Context, reason string) context.Context {
	if !r.Enabled() {
		return ctx
	}
	return r.pin(ctx, nil, reason)
}

// pin returns ctx with rep (nil: the primary) pinned, and counts the read.
func (r *Router) pin(ctx context.Context, rep *replica, reason string) context.Context {
	if r.cfg.OnRead != nil {
		target := Primary
		if rep != nil {
			target = rep.Name
		}
		r.cfg.OnRead(target, reason)
	}
	return context.WithValue(ctx, routeKey{}, &route{router: r, replica: rep})
}

// Pool returns the pool pinned in ctx by [Router.Read], the primary when none is: every read
// path asks it for its pool, and whatever runs outside a routed request (writes, River, the
// process's own upkeep) stays on the primary.
func (r *Router) Pool(ctx context.Context) *pgxpool.Pool {
	if rt := r.routeOf(ctx); rt != nil && rt.replica != nil {
		return rt.replica.Pool
	}
	return r.primary
}

// ReplicaOf returns the name of the replica pinned in ctx, "" when the read is on the primary.
func (r *Router) ReplicaOf(ctx context.Context) string {
	if rt := r.routeOf(ctx); rt != nil && rt.replica != nil {
		return rt.replica.Name
	}
	return ""
}

// Retry decides, for a read that failed with err, whether to ask the primary again: when the
// read ran on a replica and its context is not done, it returns ctx with the primary pinned
// (counted as [ReasonRetry]) and true. The primary is the truth: whatever failed on a replica
// (it went away, the replay cancelled the query, it has not replayed a migration or a rebuild's
// swap yet) is asked of it once. The caller passes only errors that are not the request's own
// answer (bad input, not found). A replica that is [Down] is also taken out of the routing
// until a probe finds it up, so the next reads go elsewhere at once.
func (r *Router) Retry(ctx context.Context, err error) (context.Context, bool) {
	rt := r.routeOf(ctx)
	if err == nil || rt == nil || rt.replica == nil || ctx.Err() != nil {
		return ctx, false
	}
	if Down(err) {
		rt.replica.markDown(err, r.cfg.Logger)
	}
	return r.pin(ctx, nil, ReasonRetry), true
}

// pick returns the least busy routable replica (fewest connections in use; ties taken in
// turn), nil when none is routable at now.
func (r *Router) pick(now time.Time) *replica {
	n := len(r.replicas)
	start := int(r.next.Add(1) % uint64(n))
	var best *replica
	var bestBusy int32
	for i := range n {
		rep := r.replicas[(start+i)%n]
		if !r.routable(rep.state.Load(), now) {
			continue
		}
		if busy := rep.Pool.Stat().AcquiredConns(); best == nil || busy < bestBusy {
			best, bestBusy = rep, busy
		}
	}
	return best
}

// Routable returns the replicas reads may go to now: up, and within the lag bound.
func (r *Router) Routable() []Replica {
	now := time.Now()
	var out []Replica
	for _, rep := range r.replicas {
		if r.routable(rep.state.Load(), now) {
			out = append(out, rep.Replica)
		}
	}
	return out
}

// routable reports whether a replica in state st may take a read at now: it is up and holds the
// primary's data as of no longer than MaxLag before now. The lag is counted from the last
// measurement to now, not as it was measured: a replica cannot fall behind faster than time
// passes, so that bound holds between probes, and a replica whose probes stop answering leaves
// the routing by itself once its last measurement is MaxLag old.
func (r *Router) routable(st *state, now time.Time) bool {
	return st.up && !st.asOf.IsZero() && now.Sub(st.asOf) <= r.cfg.MaxLag
}

// Status is a replica as the router last measured it.
type Status struct {
	Name string
	// Up is set when the replica's last probe answered, from a standby.
	Up bool
	// Lag is how far behind the primary the replica's data is now, counted from its last
	// measurement; -1 when it was never measured.
	Lag time.Duration
	// Routable is set when reads may go to the replica now ([Router.Routable]).
	Routable bool
	// Err is why the replica is not up, "" when it is.
	Err string
}

// Status returns every replica's status, in configuration order.
func (r *Router) Status() []Status {
	now := time.Now()
	out := make([]Status, len(r.replicas))
	for i, rep := range r.replicas {
		st := rep.state.Load()
		out[i] = Status{Name: rep.Name, Up: st.up, Lag: -1, Routable: r.routable(st, now), Err: st.err}
		if !st.asOf.IsZero() {
			out[i].Lag = now.Sub(st.asOf)
		}
	}
	return out
}
