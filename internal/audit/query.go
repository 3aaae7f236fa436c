package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// Paging limits of List and Since.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	MaxSince     = 10000
)

// Filter selects entries for List. Empty fields do not filter.
type Filter struct {
	ActorID      string
	Org          string
	ActionPrefix string // "camera." matches camera.update, camera.delete…
	Object       string
	Outcome      string
	From, To     time.Time // From inclusive, To exclusive
	// Cursor is the next value returned by the previous page (0: first page).
	Cursor int64
	// Oldest pages oldest first; the default is newest first.
	Oldest bool
	Limit  int // DefaultLimit when ≤ 0, capped at MaxLimit
}

// List returns one page of entries matching f, ordered by seq (newest first
// unless f.Oldest), and the cursor of the next page (0 when this is the last).
// Access control is the caller's: List serves whatever it is asked.
func List(ctx context.Context, q store.Q, f Filter) ([]Entry, int64, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var (
		where []string
		args  []any
	)
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.Org != "" {
		add("org = ?", f.Org)
	}
	if f.ActionPrefix != "" {
		// substr instead of LIKE: LIKE is case-insensitive on SQLite and
		// case-sensitive on PostgreSQL, and would need escaping of % and _.
		// The length is in characters on both engines.
		add("substr(action, 1, ?) = ?", len([]rune(f.ActionPrefix)), f.ActionPrefix)
	}
	if f.Object != "" {
		add("object = ?", f.Object)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if !f.From.IsZero() {
		add("at >= ?", f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		add("at < ?", f.To.UnixMilli())
	}
	order := "DESC"
	if f.Oldest {
		order = "ASC"
		if f.Cursor > 0 {
			add("seq > ?", f.Cursor)
		}
	} else if f.Cursor > 0 {
		add("seq < ?", f.Cursor)
	}
	sqlq := `SELECT ` + rowCols + ` FROM audit_log`
	if len(where) > 0 {
		sqlq += ` WHERE ` + strings.Join(where, " AND ")
	}
	// One more than the page tells whether there is a next page.
	sqlq += ` ORDER BY seq ` + order + ` LIMIT ?`
	args = append(args, limit+1)
	out, err := queryEntries(ctx, q, sqlq, args...)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Seq
	}
	return out, next, nil
}

// Since returns up to limit entries with seq > after, oldest first: the feed
// a lower site ships upward (federation resumes from the last seq acked).
func Since(ctx context.Context, q store.Q, after int64, limit int) ([]Entry, error) {
	if limit <= 0 || limit > MaxSince {
		limit = MaxSince
	}
	return queryEntries(ctx, q, `SELECT `+rowCols+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

// Checkpoints returns up to limit checkpoints with seq > after, oldest first
// (shipped upward beside the entries).
func Checkpoints(ctx context.Context, q store.Q, after int64, limit int) ([]Checkpoint, error) {
	if limit <= 0 || limit > MaxSince {
		limit = MaxSince
	}
	rs, err := q.Query(ctx, `SELECT seq, hash, at, signature, key_id FROM audit_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoints: %w", err)
	}
	defer rs.Close()
	var out []Checkpoint
	for rs.Next() {
		var c Checkpoint
		if err := rs.Scan(&c.Seq, &c.Hash, &c.AtMS, &c.Signature, &c.KeyID); err != nil {
			return nil, fmt.Errorf("audit: checkpoints: %w", err)
		}
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("audit: checkpoints: %w", err)
	}
	return out, nil
}

func queryEntries(ctx context.Context, q store.Q, sqlq string, args ...any) ([]Entry, error) {
	rs, err := q.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	defer rs.Close()
	var out []Entry
	for rs.Next() {
		var r row
		if err := scanRow(rs, &r); err != nil {
			return nil, fmt.Errorf("audit: query: %w", err)
		}
		d, err := parseDetails(r.details)
		if err != nil {
			// A row whose details no longer parse was tampered with; list it
			// anyway (hiding it would hide the evidence) and let Verify name it.
			d = map[string]any{"_unparsable": r.details}
		}
		out = append(out, Entry{
			Seq: r.seq, At: time.UnixMilli(r.at).UTC(), ActorID: r.actorID, Actor: r.actor, Org: r.org,
			Action: r.action, Object: r.object, Outcome: r.outcome, Reason: r.reas,
			Details: d, Remote: r.remote, PrevHash: r.prevHash, Hash: r.hash,
		})
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	return out, nil
}
