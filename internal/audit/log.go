package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// Options configures a Log.
type Options struct {
	// Key signs checkpoints; KeyID names it in each checkpoint so a verifier
	// can pick the right public key after a rotation. Without a key no
	// checkpoint is written (Checkpoint returns ErrNoKey).
	Key   ed25519.PrivateKey
	KeyID string
	// A checkpoint is written by Append once EveryEntries entries have been
	// added since the last one, or once EveryInterval has passed since the
	// last one (checked when an entry is appended; a ticker calling
	// Checkpoint covers a quiet log). Zero disables that trigger.
	EveryEntries  int64
	EveryInterval time.Duration
	// Now is the clock (UTC); nil means time.Now. Tests pin it.
	Now func() time.Time
	// DB runs Append in its own transaction when the caller passes a handle
	// that is not a *store.Tx (db.Q()): the head update and the insert must
	// commit together or a crash would leave a hole in the chain.
	DB *store.DB
}

// Log is the site's audit log. It is safe for concurrent use; the database
// serialises appends (see the audit_head table).
type Log struct {
	opt     Options
	witness atomic.Pointer[Witness] // counts committed entries towards the next witnessed head
}

// ErrNoKey is returned by Checkpoint when the Log has no signing key.
var ErrNoKey = errors.New("audit: no checkpoint signing key configured")

// ErrNeedTx is returned when Append gets a handle that is not a transaction
// and Options.DB is not set to open one.
var ErrNeedTx = errors.New("audit: append needs a *store.Tx (or Options.DB)")

// Limits of one AppendBatch statement. SQLite allows 32766 bound variables
// and PostgreSQL 65535; 13 columns × 500 rows stays far below both.
const insertChunk = 500

var _ Appender = (*Log)(nil)

// New returns a Log. A key of the wrong size is dropped (no checkpoints)
// rather than panicking at the first signature.
func New(opts Options) *Log {
	if len(opts.Key) != ed25519.PrivateKeySize {
		opts.Key = nil
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Log{opt: opts}
}

// PublicKey is the public half of the signing key (nil without a key), for
// `vigil audit verify` and for publishing to tier 1.
func (l *Log) PublicKey() ed25519.PublicKey {
	if l.opt.Key == nil {
		return nil
	}
	return l.opt.Key.Public().(ed25519.PublicKey)
}

// KeyID names the signing key in checkpoints and witnessed heads.
func (l *Log) KeyID() string { return l.opt.KeyID }

// Checkpoint is one signed statement "the log's entry seq has this hash".
type Checkpoint struct {
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"`
	AtMS      int64  `json:"at"`
	Signature string `json:"signature"` // base64 Ed25519
	KeyID     string `json:"key_id"`
}

// Append adds e to the log inside q and returns it with Seq, At, PrevHash and
// Hash set. q should be the transaction that makes the change e records, so
// both commit or neither does. Call it as the LAST statement of that
// transaction: it locks the log's head row until commit, and taking it early
// would serialise every writer behind the whole transaction (and on
// PostgreSQL could deadlock against row locks taken afterwards).
func (l *Log) Append(ctx context.Context, q store.Q, e Entry) (Entry, error) {
	out, err := l.AppendBatch(ctx, q, []Entry{e})
	if err != nil {
		return Entry{}, err
	}
	return out[0], nil
}

// AppendBatch appends many entries in one transaction (federation replay,
// bulk imports, benchmarks), in the order given.
func (l *Log) AppendBatch(ctx context.Context, q store.Q, es []Entry) ([]Entry, error) {
	if len(es) == 0 {
		return nil, nil
	}
	// Normalise before taking the lock: a bad entry fails without waiting.
	rows := make([]row, len(es))
	for i, e := range es {
		if e.Action == "" {
			return nil, fmt.Errorf("audit: entry %d: action is required", i)
		}
		r, err := toRow(e)
		if err != nil {
			return nil, err
		}
		rows[i] = r
	}
	var out []Entry
	run := func(tx store.Q) error {
		var err error
		out, err = l.appendRows(ctx, tx, es, rows)
		return err
	}
	w := l.witness.Load()
	switch t := q.(type) {
	case *store.Tx:
		if err := run(t); err != nil {
			return nil, err
		}
		if w != nil {
			t.AfterCommit(func() { w.committed(len(es)) })
		}
	default:
		if l.opt.DB == nil {
			return nil, ErrNeedTx
		}
		if err := l.opt.DB.InTx(ctx, func(tx *store.Tx) error { return run(tx) }); err != nil {
			return nil, err
		}
		if w != nil {
			w.committed(len(es))
		}
	}
	return out, nil
}

type head struct {
	seq, ckptSeq, ckptAt int64
	hash                 string
}

// lockHead reserves n seqs and returns the head as it was. The UPDATE comes
// first so the row lock (PostgreSQL) / write lock (SQLite) is held before the
// head is read: two appenders can never read the same head.
func lockHead(ctx context.Context, q store.Q, n int64) (head, error) {
	var h head
	err := q.QueryRow(ctx,
		`UPDATE audit_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash, ckpt_seq, ckpt_at`, n).
		Scan(&h.seq, &h.hash, &h.ckptSeq, &h.ckptAt)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return h, errors.New("audit: audit_head row missing (migration 00004 not applied, or tampered)")
		}
		return h, fmt.Errorf("audit: lock head: %w", err)
	}
	h.seq -= n
	return h, nil
}

func (l *Log) appendRows(ctx context.Context, q store.Q, es []Entry, rows []row) ([]Entry, error) {
	h, err := lockHead(ctx, q, int64(len(rows)))
	if err != nil {
		return nil, err
	}
	now := l.opt.Now().UnixMilli()
	hs := newHasher()
	prev := h.hash
	var cps []Checkpoint
	// With no checkpoint yet ckpt_at is 0, so an interval policy signs the
	// very first entry and counts from there.
	ckptSeq, ckptAt := h.ckptSeq, h.ckptAt
	out := make([]Entry, len(rows))
	for i := range rows {
		r := &rows[i]
		r.seq = h.seq + int64(i) + 1
		if es[i].At.IsZero() {
			r.at = now
		}
		r.prevHash = prev
		r.hash = hs.entryHash(r)
		prev = r.hash
		if l.opt.Key != nil && l.due(r.seq-ckptSeq, now-ckptAt) {
			cps = append(cps, l.sign(r.seq, r.hash, now))
			ckptSeq, ckptAt = r.seq, now
		}
		e := es[i]
		e.Seq, e.At, e.PrevHash, e.Hash = r.seq, time.UnixMilli(r.at).UTC(), r.prevHash, r.hash
		e.ActorID, e.Actor, e.Org, e.Action, e.Object = r.actorID, r.actor, r.org, r.action, r.object
		e.Outcome, e.Reason, e.Remote = r.outcome, r.reas, r.remote
		out[i] = e
	}
	if err := insertRows(ctx, q, rows); err != nil {
		return nil, err
	}
	if err := insertCheckpoints(ctx, q, cps); err != nil {
		return nil, err
	}
	if _, err := q.Exec(ctx, `UPDATE audit_head SET hash = ?, ckpt_seq = ?, ckpt_at = ? WHERE id = 1`,
		prev, ckptSeq, ckptAt); err != nil {
		return nil, fmt.Errorf("audit: update head: %w", err)
	}
	return out, nil
}

func (l *Log) due(entriesSince, msSince int64) bool {
	if l.opt.EveryEntries > 0 && entriesSince >= l.opt.EveryEntries {
		return true
	}
	return l.opt.EveryInterval > 0 && msSince >= l.opt.EveryInterval.Milliseconds()
}

func (l *Log) sign(seq int64, hash string, at int64) Checkpoint {
	return Checkpoint{
		Seq: seq, Hash: hash, AtMS: at, KeyID: l.opt.KeyID,
		Signature: signCheckpoint(l.opt.Key, l.opt.KeyID, seq, hash, at),
	}
}

const insertCols = `INSERT INTO audit_log (seq, at, actor_id, actor, org, action, object, outcome, reason, details, remote, prev_hash, hash) VALUES `

func insertRows(ctx context.Context, q store.Q, rows []row) error {
	var sb strings.Builder
	args := make([]any, 0, 13*min(len(rows), insertChunk))
	for start := 0; start < len(rows); start += insertChunk {
		chunk := rows[start:min(start+insertChunk, len(rows))]
		sb.Reset()
		args = args[:0]
		sb.WriteString(insertCols)
		for i := range chunk {
			r := &chunk[i]
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
			args = append(args, r.seq, r.at, r.actorID, r.actor, r.org, r.action, r.object, r.outcome,
				r.reas, r.details, r.remote, r.prevHash, r.hash)
		}
		if _, err := q.Exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("audit: insert: %w", err)
		}
	}
	return nil
}

func insertCheckpoints(ctx context.Context, q store.Q, cps []Checkpoint) error {
	for _, c := range cps {
		if _, err := q.Exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, signature, key_id) VALUES (?, ?, ?, ?, ?)`,
			c.Seq, c.Hash, c.AtMS, c.Signature, c.KeyID); err != nil {
			return fmt.Errorf("audit: insert checkpoint: %w", err)
		}
	}
	return nil
}

// Checkpoint signs the current head if entries were appended since the last
// checkpoint; the lead calls it from a ticker so a quiet log still gets a
// signed tail. wrote is false when there was nothing new to sign.
func (l *Log) Checkpoint(ctx context.Context, db *store.DB) (cp Checkpoint, wrote bool, err error) {
	if l.opt.Key == nil {
		return Checkpoint{}, false, ErrNoKey
	}
	err = db.InTx(ctx, func(tx *store.Tx) error {
		h, err := lockHead(ctx, tx, 0)
		if err != nil {
			return err
		}
		if h.seq == 0 || h.seq <= h.ckptSeq {
			return nil
		}
		cp = l.sign(h.seq, h.hash, l.opt.Now().UnixMilli())
		if err := insertCheckpoints(ctx, tx, []Checkpoint{cp}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE audit_head SET ckpt_seq = ?, ckpt_at = ? WHERE id = 1`, cp.Seq, cp.AtMS); err != nil {
			return fmt.Errorf("audit: update head: %w", err)
		}
		wrote = true
		return nil
	})
	if err != nil {
		return Checkpoint{}, false, err
	}
	return cp, wrote, nil
}
