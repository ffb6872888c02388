package batchwrite_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends/indexerr"
	"github.com/osa-archive/osa/backends/internal/batchwrite"
	"github.com/osa-archive/osa/internal/pgtest"
)

func TestWriteIsolated(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	pool := pgtest.New(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	values := []int32{10, 11, 3, 12, 13, 14, 3, 15}
	// 1 / (x - 3) rejects the value 3 with division_by_zero (SQLSTATE 22012, a data exception).
	build := func(sql string) batchwrite.BuildFunc {
		return func(rows []int) (string, []any) {
			xs := make([]int32, len(rows))
			for k, r := range rows {
				xs[k] = values[r]
			}
			return sql, []any{xs}
		}
	}
	rows := []int{0, 1, 2, 3, 4, 5, 6, 7}

	t.Run("DataErrorIsolated", func(t *testing.T) {
		t.Parallel()
		errs := make([]error, len(values))
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			batchwrite.WriteIsolated(ctx, tx, "t", rows, errs, build("INSERT INTO t SELECT x + 0 * (1 / (x - 3)) FROM unnest($1::int[]) x"))
			return nil
		})
		if err != nil {
			t.Fatalf("commit after isolated failures: %v", err)
		}
		for i, err := range errs {
			if bad := values[i] == 3; bad != indexerr.IsPermanent(err) || !bad && err != nil {
				t.Fatalf("errs[%d] (value %d) = %v", i, values[i], err)
			}
		}
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 6 {
			t.Fatalf("%d rows written (err %v), want 6", n, err)
		}
	})

	t.Run("OtherErrorForEveryRow", func(t *testing.T) {
		t.Parallel()
		errs := make([]error, len(values))
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = '50ms'"); err != nil {
				return err
			}
			batchwrite.WriteIsolated(ctx, tx, "t", rows, errs, build("INSERT INTO t SELECT x FROM unnest($1::int[]) x, pg_sleep(1)"))
			_, err := tx.Exec(ctx, "RESET statement_timeout")
			return err
		})
		if err != nil {
			t.Fatalf("transaction after a failed write: %v", err)
		}
		for i, err := range errs {
			if err == nil || indexerr.IsPermanent(err) || !strings.Contains(err.Error(), "statement timeout") {
				t.Fatalf("errs[%d] = %v, want a transient statement timeout", i, err)
			}
		}
	})
}
