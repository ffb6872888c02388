package pglock_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/internal/pglock"
	"github.com/osa-archive/osa/internal/pgtest"
)

func TestLockExcludes(t *testing.T) {
	pool := pgtest.New(t)
	ctx := t.Context()
	key := pglock.Name("osa.test.lock")

	held, err := pglock.Acquire(ctx, pool, key)
	if err != nil {
		t.Fatal(err)
	}
	if other, err := pglock.TryAcquire(ctx, pool, key); err != nil || other != nil {
		t.Fatalf("TryAcquire while held = %v, %v; want nil, nil", other, err)
	}
	// An older process's session lock on the same key is excluded too.
	var got bool
	if err := pool.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock(hashtextextended('osa.test.lock', 0))").Scan(&got); err != nil || got {
		t.Fatalf("session lock while held = %v, %v; want false", got, err)
	}
	if other, err := pglock.TryAcquire(ctx, pool, pglock.Name("osa.test.other")); err != nil || other == nil {
		t.Fatalf("TryAcquire of another key = %v, %v; want a lock", other, err)
	} else {
		other.Release(ctx)
	}

	// A waiter gets the lock once it is released, not before.
	acquired := make(chan *pglock.Lock, 1)
	go func() {
		l, err := pglock.Acquire(ctx, pool, key)
		if err != nil {
			t.Error(err)
		}
		acquired <- l
	}()
	select {
	case <-acquired:
		t.Fatal("Acquire returned while the lock was held")
	case <-time.After(300 * time.Millisecond):
	}
	held.Release(ctx)
	held.Release(ctx) // twice is harmless
	select {
	case l := <-acquired:
		l.Release(ctx)
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire still waiting 10s after the release")
	}
}

func TestAcquireCancelled(t *testing.T) {
	pool := pgtest.New(t)
	key := pglock.ID(42)
	held, err := pglock.Acquire(t.Context(), pool, key)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(t.Context())
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if l, err := pglock.Acquire(ctx, pool, key); err == nil {
		l.Release(ctx)
		t.Fatal("Acquire of a held lock returned without error after its context ended")
	}
	// The cancelled wait left no session waiting for the lock, and none of the pool's
	// connections is taken by the held one.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still waiting for the lock 5s after the cancelled wait", waiting)
		}
	}
	if n := pool.Stat().AcquiredConns(); n != 0 {
		t.Errorf("%d of the pool's connections acquired, want 0: a lock has a connection of its own", n)
	}
}

// TestLockThroughPgBouncer holds a lock through PgBouncer in transaction mode, with fewer server
// connections than clients, while other clients' statements go through the same server
// connections: the lock stays held until it is released, and then is free.
func TestLockThroughPgBouncer(t *testing.T) {
	url := pgtest.ThroughPgBouncer(t, pgtest.NewURL(t), 3)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := t.Context()
	key := pglock.Name("osa.test.pooled")

	held, err := pglock.Acquire(ctx, pool, key)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for range 20 {
				if _, err := pool.Exec(ctx, "SELECT pg_sleep(0.001)"); err != nil {
					t.Error(err)
					return
				}
				if l, err := pglock.TryAcquire(ctx, pool, key); err != nil || l != nil {
					t.Errorf("TryAcquire while held = %v, %v; want nil, nil", l, err)
					l.Release(ctx)
					return
				}
			}
		})
	}
	wg.Wait()
	held.Release(ctx)
	l, err := pglock.TryAcquire(ctx, pool, key)
	if err != nil || l == nil {
		t.Fatalf("TryAcquire after the release = %v, %v; want a lock", l, err)
	}
	l.Release(ctx)
}
