package store

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// Why a write cannot be done, as Unwritable names it. The values are also the
// API's error codes, so a client sees the same word as the log.
const (
	DiskFull = "disk_full"    // no space left for the database (or a file beside it)
	ReadOnly = "db_read_only" // the database refuses writes (read-only server, transaction, file)
)

// SQLite result codes (primary, the low byte of an extended code).
const (
	sqliteReadOnly = 8
	sqliteFull     = 13
)

// PostgreSQL SQLSTATEs.
const (
	pgDiskFull   = "53100"
	pgReadOnlyTx = "25006" // read_only_sql_transaction (default_transaction_read_only, a hot standby)
)

// Unwritable says whether err means the database (or the data folder beside
// it) cannot take writes right now, and why: DiskFull or ReadOnly, "" for any
// other error. Callers use it to fail closed with a clear reason ("disk
// full") instead of a bare 500 or, worse, an answer that blames the user
// ("invalid token").
func Unwritable(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return DiskFull
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteFull:
			return DiskFull
		case sqliteReadOnly:
			return ReadOnly
		}
		return ""
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case pgDiskFull:
			return DiskFull
		case pgReadOnlyTx:
			return ReadOnly
		}
	}
	return ""
}

// ErrUnwritable wraps a write failure that Unwritable classifies, so the
// reason survives layers that add context.
type ErrUnwritable struct {
	Reason string // DiskFull or ReadOnly
	Err    error
}

func (e *ErrUnwritable) Error() string {
	return "store: cannot write (" + e.Reason + "): " + e.Err.Error()
}
func (e *ErrUnwritable) Unwrap() error { return e.Err }

// WriteProbe makes one tiny write (the heartbeat row) in a transaction and
// reports whether the database can write: nil, an *ErrUnwritable when the
// disk is full or the database read-only, or the error as is.
func (db *DB) WriteProbe(ctx context.Context) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE store_heartbeat SET beats = beats + 1, at = ? WHERE id = 1`, NowMS())
		return err
	})
	if err == nil {
		return nil
	}
	if why := Unwritable(err); why != "" {
		return &ErrUnwritable{Reason: why, Err: err}
	}
	return fmt.Errorf("store: write probe: %w", err)
}
