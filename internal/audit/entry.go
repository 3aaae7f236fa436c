// Package audit is the append-only, hash-chained log of every login, change,
// view and extraction (R-SEC-1, R-SEC-2). An entry is written in the same
// transaction as the change it records, so a change without its entry (or an
// entry without its change) cannot exist.
package audit

import (
	"context"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// Outcome of the recorded act.
const (
	OK     = "ok"
	Denied = "denied"
	Failed = "failed"
)

// Entry is one line of the log. Seq, PrevHash and Hash are set by Append.
type Entry struct {
	Seq      int64          `json:"seq"`
	At       time.Time      `json:"at"`
	ActorID  string         `json:"actor_id"`          // user id, or "system"
	Actor    string         `json:"actor"`             // user name at the time
	Org      string         `json:"org"`               // the actor's organisation id
	Action   string         `json:"action"`            // e.g. "auth.login", "camera.update", "live.start"
	Object   string         `json:"object"`            // e.g. "camera/cam-01"
	Outcome  string         `json:"outcome"`           // ok, denied, failed
	Reason   string         `json:"reason,omitempty"`  // access reason code or failure cause
	Details  map[string]any `json:"details,omitempty"` // never a secret
	Remote   string         `json:"remote,omitempty"`  // client address
	PrevHash string         `json:"prev_hash"`
	Hash     string         `json:"hash"`
}

// Appender is what other rooms need of the log: write e inside q (a
// transaction when the entry records a change).
type Appender interface {
	Append(ctx context.Context, q store.Q, e Entry) (Entry, error)
}
