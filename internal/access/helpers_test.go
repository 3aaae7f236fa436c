package access_test

import (
	"context"
	"errors"
	"sync"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// recorder is a stand-in for the audit log: it writes nothing to the
// database, remembers the entries, and can be told to fail so that tests can
// see a change roll back with its entry.
type recorder struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    bool
}

var errAudit = errors.New("audit refused")

func (r *recorder) Append(_ context.Context, q store.Q, e audit.Entry) (audit.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return audit.Entry{}, errAudit
	}
	if q == nil {
		return audit.Entry{}, errors.New("no transaction")
	}
	e.Seq = int64(len(r.entries) + 1)
	r.entries = append(r.entries, e)
	return e, nil
}

func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.entries))
	for i, e := range r.entries {
		out[i] = e.Action + " " + e.Object
	}
	return out
}
