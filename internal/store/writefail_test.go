package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// TestUnwritableNamesRealFailures makes each engine really refuse a write
// and checks the classification: SQLite out of pages is SQLITE_FULL (what a
// full volume gives), a PostgreSQL read-only transaction is 25006. Other
// errors (a syntax error, a unique violation) are not "cannot write".
func TestUnwritableNamesRealFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var full error
		switch db.Engine {
		case store.SQLite:
			// max_page_count is per connection: cap one connection at the
			// file's current size, so the next page it needs is refused.
			conn, err := db.SQL.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var pages int64
			if err := conn.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
				t.Fatal(err)
			}
			_, full = conn.ExecContext(ctx, `CREATE TABLE filler AS SELECT randomblob(1048576) AS b`)
			// Drop this connection: its cap must not go back to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			_ = conn.Close()
			if got := store.Unwritable(full); got != store.DiskFull {
				t.Fatalf("SQLite out of pages: Unwritable(%v) = %q, want %q", full, got, store.DiskFull)
			}
		case store.Postgres:
			tx, err := db.SQL.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			_, full = tx.ExecContext(ctx, `UPDATE store_heartbeat SET at = 1 WHERE id = 1`)
			_ = tx.Rollback()
			if got := store.Unwritable(full); got != store.ReadOnly {
				t.Fatalf("PostgreSQL read-only transaction: Unwritable(%v) = %q, want %q", full, got, store.ReadOnly)
			}
		}
		// Errors that are not about writing stay unclassified.
		_, syntax := db.Q().Exec(ctx, `UPDATE no_such_table SET x = 1`)
		if syntax == nil || store.Unwritable(syntax) != "" {
			t.Fatalf("a missing table classified as %q (%v)", store.Unwritable(syntax), syntax)
		}
		if store.Unwritable(nil) != "" {
			t.Fatal("nil classified")
		}
		// The same reason through wrapping, and a file write beside the
		// database that met ENOSPC.
		if got := store.Unwritable(fmt.Errorf("audit: %w", full)); got == "" {
			t.Fatal("wrapped error lost its reason")
		}
		if got := store.Unwritable(&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}); got != store.DiskFull {
			t.Fatalf("ENOSPC: %q", got)
		}
		if err := db.WriteProbe(ctx); err != nil {
			t.Fatalf("write probe on a healthy database: %v", err)
		}
	})
}

// TestWriteProbeReadOnly: on a handle that cannot write the probe says
// db_read_only while reads keep working; the writable handle on the same
// database probes fine.
func TestWriteProbeReadOnly(t *testing.T) {
	storetest.EachReadOnly(t, func(t *testing.T, rw, ro *store.DB) {
		ctx := context.Background()
		err := ro.WriteProbe(ctx)
		var uw *store.ErrUnwritable
		if !errors.As(err, &uw) || uw.Reason != store.ReadOnly {
			t.Fatalf("probe on a read-only handle: %v", err)
		}
		var beats int64
		if err := ro.Q().QueryRow(ctx, `SELECT beats FROM store_heartbeat WHERE id = 1`).Scan(&beats); err != nil {
			t.Fatalf("read on the read-only handle: %v", err)
		}
		if err := rw.WriteProbe(ctx); err != nil {
			t.Fatalf("probe on the writable handle: %v", err)
		}
	})
}

// BenchmarkWriteProbe is what one /readyz write probe costs (it is cached
// for 1.5 s, so a load balancer polling often pays it at most then).
func BenchmarkWriteProbe(b *testing.B) {
	for _, eng := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		b.Run(eng.name, func(b *testing.B) {
			db := eng.open(b)
			ctx := context.Background()
			for b.Loop() {
				if err := db.WriteProbe(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
