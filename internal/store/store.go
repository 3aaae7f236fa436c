// Package store owns the database handle, the migrations and transactions.
//
// One set of SQL migrations serves both engines: SQLite (modernc, no cgo) is the
// embedded default, PostgreSQL (pgx) serves large sites. To keep the SQL portable
// the schema uses only types both engines read the same way (TEXT, BIGINT,
// INTEGER, BOOLEAN, DOUBLE PRECISION), times are stored as BIGINT unix
// milliseconds in UTC, and queries are written with `?` placeholders that
// Rebind turns into `$n` for PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Engine names the database engine behind a DB.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options says where the database is. With DSN empty the SQLite file at
// SQLitePath is used (created if missing).
type Options struct {
	DSN        string // postgres://… for PostgreSQL
	SQLitePath string
	Logger     *slog.Logger
}

// DB is the site's database handle.
type DB struct {
	SQL    *sql.DB
	Engine Engine
}

// Q is what both DB and Tx offer: queries written with `?` placeholders.
type Q interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Engine() Engine
}

// Open connects and applies every pending migration.
func Open(ctx context.Context, opt Options) (*DB, error) {
	db, err := Connect(ctx, opt)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Connect opens the handle without migrating (for `vigil migrate status`).
func Connect(ctx context.Context, opt Options) (*DB, error) {
	var (
		sqldb  *sql.DB
		engine Engine
		err    error
	)
	if opt.DSN != "" {
		engine = Postgres
		sqldb, err = sql.Open("pgx", opt.DSN)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		sqldb.SetMaxOpenConns(16)
		sqldb.SetMaxIdleConns(16)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		if opt.SQLitePath == "" {
			return nil, errors.New("store: no database: set database.dsn or a data folder")
		}
		if err := os.MkdirAll(filepath.Dir(opt.SQLitePath), 0o750); err != nil {
			return nil, fmt.Errorf("store: create data folder: %w", err)
		}
		engine = SQLite
		// WAL lets readers run beside the one writer; busy_timeout makes a
		// second writer wait instead of failing; _txlock=immediate takes the
		// write lock at BEGIN so two transactions never deadlock on upgrade.
		dsn := "file:" + opt.SQLitePath +
			"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(15000)" +
			"&_pragma=synchronous(NORMAL)&_txlock=immediate"
		sqldb, err = sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		sqldb.SetMaxOpenConns(8)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := sqldb.PingContext(pctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("store: connect %s: %w", engine, err)
	}
	return &DB{SQL: sqldb, Engine: engine}, nil
}

func (db *DB) dialect() goose.Dialect {
	if db.Engine == Postgres {
		return goose.DialectPostgres
	}
	return goose.DialectSQLite3
}

// Migrate applies every pending migration.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// MigrationStatus lists each migration and whether it is applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]string, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(st))
	for _, s := range st {
		out = append(out, fmt.Sprintf("%05d %-40s %s", s.Source.Version, filepath.Base(s.Source.Path), s.State))
	}
	return out, nil
}

func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(db.dialect(), db.SQL, sub)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return p, nil
}

// Close closes the handle.
func (db *DB) Close() error { return db.SQL.Close() }

// Rebind turns `?` placeholders into `$1…` for PostgreSQL. Question marks
// inside single-quoted literals are left alone.
func Rebind(e Engine, q string) string {
	if e != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

type dbq struct{ db *DB }

// Q returns the handle as a Q.
func (db *DB) Q() Q { return dbq{db} }

func (d dbq) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.db.SQL.ExecContext(ctx, Rebind(d.db.Engine, q), args...)
}
func (d dbq) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.db.SQL.QueryContext(ctx, Rebind(d.db.Engine, q), args...)
}
func (d dbq) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.db.SQL.QueryRowContext(ctx, Rebind(d.db.Engine, q), args...)
}
func (d dbq) Engine() Engine { return d.db.Engine }

// Tx is a transaction; it satisfies Q.
type Tx struct {
	tx     *sql.Tx
	engine Engine
	after  []func()
}

func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, Rebind(t.engine, q), args...)
}
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, Rebind(t.engine, q), args...)
}
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, Rebind(t.engine, q), args...)
}
func (t *Tx) Engine() Engine { return t.engine }

// AfterCommit registers fn to run once the transaction has committed (for
// notifications that must not fire for a change that was rolled back).
func (t *Tx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

// InTx runs fn in a transaction: committed when fn returns nil, rolled back
// otherwise. A change and the audit entry that records it go through one InTx.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	stx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := &Tx{tx: stx, engine: db.Engine}
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	for _, f := range tx.after {
		f()
	}
	return nil
}

// NowMS is the storage form of a time: unix milliseconds, UTC.
func NowMS() int64 { return time.Now().UnixMilli() }

// MS converts a time to its storage form; the zero time is 0.
func MS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Time converts the storage form back; 0 is the zero time.
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// IsUniqueViolation reports whether err is a unique/primary-key conflict on
// either engine, so callers can answer 409 instead of 500.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || // sqlite
		strings.Contains(s, "SQLSTATE 23505") || strings.Contains(s, "duplicate key value") // postgres
}

// IsForeignKeyViolation reports whether err is a foreign-key failure.
func IsForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "FOREIGN KEY constraint failed") || strings.Contains(s, "SQLSTATE 23503")
}
