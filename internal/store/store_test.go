package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func TestRebind(t *testing.T) {
	got := store.Rebind(store.Postgres, "SELECT a FROM t WHERE a = ? AND b = '?' AND c IN (?, ?)")
	want := "SELECT a FROM t WHERE a = $1 AND b = '?' AND c IN ($2, $3)"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if s := store.Rebind(store.SQLite, "a = ?"); s != "a = ?" {
		t.Fatalf("sqlite rebind changed the query: %q", s)
	}
}

func TestMigrateAndRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Migrating twice is a no-op.
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		name := "Sở Khoa học và Công nghệ tỉnh Điện Biên — ' ; DROP TABLE x; --"
		err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
				"so-khcn", name, "department", store.NowMS(), store.NowMS())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := db.Q().QueryRow(ctx, `SELECT name FROM organisations WHERE id = ?`, "so-khcn").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != name {
			t.Fatalf("Vietnamese text did not round-trip: %q", got)
		}
		_, err = db.Q().Exec(ctx, `INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			"so-khcn", "x", "department", 1, 1)
		if !store.IsUniqueViolation(err) {
			t.Fatalf("duplicate id: want unique violation, got %v", err)
		}
		// A failing transaction leaves nothing behind.
		_ = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES ('tmp', 't', 'commune', 1, 1)`); err != nil {
				return err
			}
			return context.Canceled
		})
		var n int
		if err := db.Q().QueryRow(ctx, `SELECT COUNT(*) FROM organisations WHERE id = 'tmp'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("rolled back row is there: n=%d err=%v", n, err)
		}
	})
}

func FuzzRebind(f *testing.F) {
	f.Add("SELECT ? , '?' , ?")
	f.Add("'unterminated ? ")
	f.Fuzz(func(t *testing.T, q string) {
		out := store.Rebind(store.Postgres, q)
		// Rebinding never loses text outside the placeholders.
		if !strings.Contains(q, "?") && out != q {
			t.Fatalf("changed a query without placeholders: %q → %q", q, out)
		}
	})
}
