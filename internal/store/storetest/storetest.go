// Package storetest opens fresh databases for tests on both engines.
//
// PostgreSQL is the one at VIGIL_TEST_PG_DSN (default
// postgres://postgres@127.0.0.1:5432/test). Each test gets its own schema,
// dropped at the end, so tests run in parallel without seeing each other.
// Without a reachable server the PostgreSQL half is skipped with a loud
// message, or fails when VIGIL_REQUIRE_PG=1 (CI sets it).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// DefaultPGDSN is used when VIGIL_TEST_PG_DSN is unset.
const DefaultPGDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Each runs fn as a subtest once on SQLite and once on PostgreSQL.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite opens a migrated database in a temporary folder.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(t.TempDir(), "vigil.db")})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PGDSN is the base DSN of the test server.
func PGDSN() string {
	if v := os.Getenv("VIGIL_TEST_PG_DSN"); v != "" {
		return v
	}
	return DefaultPGDSN
}

// Postgres opens a migrated database in a fresh schema of the test server.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DSN: PostgresDSN(t)})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgresDSN makes a fresh, empty schema on the test server and returns a
// DSN that uses it (search_path), for a test that hands the database to
// another process; the schema is dropped at the end of the test. Without a
// server it skips loudly, or fails when VIGIL_REQUIRE_PG=1.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := PGDSN()
	admin := pgAdmin(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse dsn: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// EachReadOnly runs fn on both engines with two handles on one fresh,
// migrated database: rw writes as usual, ro refuses every write as a
// database that cannot write does (SQLite: query_only on its one
// connection; PostgreSQL: default_transaction_read_only for its connections
// only, so no other test is touched), while reads work on both.
func EachReadOnly(t *testing.T, fn func(t *testing.T, rw, ro *store.DB)) {
	t.Helper()
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "vigil.db")
		rw, err := store.Open(ctx, store.Options{SQLitePath: path})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { rw.Close() })
		ro, err := store.Connect(ctx, store.Options{SQLitePath: path})
		if err != nil {
			t.Fatalf("open sqlite twin: %v", err)
		}
		t.Cleanup(func() { ro.Close() })
		// One connection, so the pragma holds for every query of the handle.
		ro.SQL.SetMaxOpenConns(1)
		if _, err := ro.SQL.ExecContext(ctx, `PRAGMA query_only = 1`); err != nil {
			t.Fatalf("query_only: %v", err)
		}
		fn(t, rw, ro)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := PostgresDSN(t)
		rw, err := store.Open(ctx, store.Options{DSN: dsn})
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(func() { rw.Close() })
		ro, err := store.Connect(ctx, store.Options{DSN: dsn + "&default_transaction_read_only=on"})
		if err != nil {
			t.Fatalf("open postgres twin: %v", err)
		}
		t.Cleanup(func() { ro.Close() })
		fn(t, rw, ro)
	})
}

// pgAdmin connects to the test server as given, or skips loudly (fails
// when VIGIL_REQUIRE_PG=1) when it is not there. The caller closes it.
func pgAdmin(t testing.TB) *sql.DB {
	t.Helper()
	base := PGDSN()
	admin, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_PG") == "1" {
			t.Fatalf("PostgreSQL required (VIGIL_REQUIRE_PG=1) but not reachable at %s: %v", base, err)
		}
		t.Skipf("!!! SKIPPING the PostgreSQL half: no server at %s (%v). Set VIGIL_TEST_PG_DSN or start PostgreSQL; CI sets VIGIL_REQUIRE_PG=1.", base, err)
	}
	return admin
}

// PostgresOwnDatabase makes a fresh database of its own on the test server
// (dropped at the end of the test) and returns its DSN and a switch that
// makes every new transaction in that database read-only (ALTER DATABASE …
// SET default_transaction_read_only), as a PostgreSQL that cannot write
// would behave; only this test's database is touched. Connections already
// open keep the setting they started with: the caller drops its pool's idle
// connections. Skips loudly without a server, or fails when
// VIGIL_REQUIRE_PG=1.
func PostgresOwnDatabase(t testing.TB) (dsn string, readOnly func(on bool)) {
	t.Helper()
	admin := pgAdmin(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "vigil_t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(PGDSN())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String(), func(on bool) {
		t.Helper()
		stmt := "ALTER DATABASE " + name + " RESET default_transaction_read_only"
		if on {
			stmt = "ALTER DATABASE " + name + " SET default_transaction_read_only = on"
		}
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}
