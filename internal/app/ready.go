package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-vms/vigil/internal/httpapi"
	"github.com/vigil-vms/vigil/internal/store"
)

// readyCacheFor is how long a write probe's answer is reused: /readyz may be
// polled many times a second by load balancers, the probe is a transaction.
const readyCacheFor = 1500 * time.Millisecond

// readiness answers /readyz's question "can this site do its work": the
// database can write (a tiny heartbeat update, at most once per
// readyCacheFor), and the data folder's volume (and the SQLite file's, when
// elsewhere) keeps the reserve the database needs.
type readiness struct {
	a *App
	// reserve is the free space kept for the database on a volume of total
	// bytes (defaultReserve).
	reserve func(total uint64) uint64

	mu      sync.Mutex
	at      time.Time
	probe   error
	dbPaths []string // folders whose volumes hold the database and the data
}

func newReadiness(a *App) *readiness { return &readiness{a: a, reserve: defaultReserve} }

func (r *readiness) check(ctx context.Context) []httpapi.ReadyProblem {
	var out []httpapi.ReadyProblem
	if err := r.writeProbe(ctx); err != nil {
		var uw *store.ErrUnwritable
		if errors.As(err, &uw) {
			out = append(out, httpapi.ReadyProblem{Check: "database", Code: uw.Reason, Detail: uw.Err.Error()})
		} else {
			out = append(out, httpapi.ReadyProblem{Check: "database", Code: "db_unavailable", Detail: err.Error()})
		}
	}
	for _, dir := range r.paths(ctx) {
		free, total, err := volumeSpace(dir)
		if err != nil {
			continue // a folder not made yet has nothing to protect
		}
		if reserve := r.reserve(total); free < reserve {
			out = append(out, httpapi.ReadyProblem{Check: "data_dir", Code: store.DiskFull,
				Detail: fmt.Sprintf("%s: %d MiB free, %d MiB kept for the database", dir, free>>20, reserve>>20)})
		}
	}
	return out
}

// writeProbe runs the database's write probe, or returns the last answer
// when it is recent.
func (r *readiness) writeProbe(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < readyCacheFor {
		return r.probe
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r.probe = r.a.DB.WriteProbe(pctx)
	r.at = time.Now()
	return r.probe
}

// paths lists the data folder and, for SQLite, the database file's folder
// (a test or an operator may keep it elsewhere).
func (r *readiness) paths(ctx context.Context) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dbPaths != nil {
		return r.dbPaths
	}
	paths := []string{r.a.Cfg.DataDir}
	if r.a.DB.Engine == store.SQLite {
		var seq int
		var name, file string
		if err := r.a.DB.Q().QueryRow(ctx, `PRAGMA database_list`).Scan(&seq, &name, &file); err == nil && file != "" {
			if d := filepath.Dir(file); d != filepath.Clean(r.a.Cfg.DataDir) {
				paths = append(paths, d)
			}
		}
	}
	r.dbPaths = paths
	return paths
}

// defaultReserve is the recorder's default reserve for the database
// (issue 15): 512 MiB but at most a tenth of the volume, or 1 % of it,
// whichever is larger; /readyz turns not ready where the recorder stops
// writing.
func defaultReserve(total uint64) uint64 {
	return max(min(512<<20, total/10), total/100)
}

// volumeSpace is the free space (for an unprivileged writer: ext4 keeps
// its root reserve out of it) and the size of dir's volume.
func volumeSpace(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}
