// Package feed pushes changes of the camera registry and of camera statuses
// to open consoles. One poller reads the whole site (every camera's registry
// version and status) once per interval while at least one console listens,
// and fans the differences out to the subscribers; each subscriber (one
// console's event stream) filters them by what its user may see. The cost is
// one read of the site per interval however many consoles are open, and a
// console learns of a change within about one interval.
package feed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// Snapshot is the whole site at one moment: every camera's registry version
// (a change of any field bumps it), its status (online, offline,
// connecting, idle; absent when nothing is known) and its flags (words
// such as "ptz rec": what it can do and whether it is being recorded).
type Snapshot struct {
	Versions map[string]int64
	Status   map[string]string
	Flags    map[string]string
}

// Change is what differs between two snapshots.
type Change struct {
	// Cameras are the ids added to, removed from or changed in the registry.
	Cameras []string
	// Status maps each id whose status changed to its new status ("" when
	// the status is no longer known); Flags likewise.
	Status map[string]string
	Flags  map[string]string
}

// Reader reads the whole site.
type Reader func(ctx context.Context) (Snapshot, error)

// Feed is the poller and its subscribers.
type Feed struct {
	read  Reader
	every time.Duration

	mu     sync.Mutex
	subs   map[*Sub]struct{}
	last   Snapshot
	cancel context.CancelFunc
	done   chan struct{}
}

// Sub is one subscriber. C is closed when the subscriber fell behind (its
// buffer filled): it must start again from a fresh snapshot.
type Sub struct {
	C chan Change
}

// New returns a feed that reads the site with read every interval while
// someone listens.
func New(read Reader, every time.Duration) *Feed {
	if every <= 0 {
		every = time.Second
	}
	return &Feed{read: read, every: every, subs: map[*Sub]struct{}{}}
}

// Subscribe adds a subscriber and returns it with the current snapshot
// (copies: the caller may keep them). The first subscriber starts the
// poller, after one read so the snapshot is current.
func (f *Feed) Subscribe(ctx context.Context) (*Sub, Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel == nil {
		snap, err := f.read(ctx)
		if err != nil {
			return nil, Snapshot{}, err
		}
		f.last = snap
		pctx, cancel := context.WithCancel(context.Background())
		f.cancel, f.done = cancel, make(chan struct{})
		go f.poll(pctx, f.done)
	}
	s := &Sub{C: make(chan Change, 32)}
	f.subs[s] = struct{}{}
	return s, Snapshot{Versions: maps.Clone(f.last.Versions), Status: maps.Clone(f.last.Status), Flags: maps.Clone(f.last.Flags)}, nil
}

// Unsubscribe removes s; the last one out stops the poller.
func (f *Feed) Unsubscribe(s *Sub) {
	f.mu.Lock()
	if _, ok := f.subs[s]; !ok {
		f.mu.Unlock()
		return
	}
	delete(f.subs, s)
	var done chan struct{}
	if len(f.subs) == 0 && f.cancel != nil {
		f.cancel()
		done = f.done
		f.cancel, f.done = nil, nil
	}
	f.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Subscribers counts the open subscribers (metrics, tests).
func (f *Feed) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func (f *Feed) poll(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		snap, err := f.read(ctx)
		if err != nil {
			continue // a failed read is tried again at the next tick; consoles keep their last state
		}
		f.mu.Lock()
		ch := Diff(f.last, snap)
		f.last = snap
		if len(ch.Cameras) > 0 || len(ch.Status) > 0 || len(ch.Flags) > 0 {
			for s := range f.subs {
				select {
				case s.C <- ch:
				default:
					// Behind: the subscriber starts over from a snapshot
					// rather than miss a change.
					close(s.C)
					delete(f.subs, s)
				}
			}
			if len(f.subs) == 0 {
				// Every subscriber fell behind and left: stop, as the last
				// Unsubscribe would have.
				f.cancel()
				f.cancel, f.done = nil, nil
				f.mu.Unlock()
				return
			}
		}
		f.mu.Unlock()
	}
}

// Diff lists what changed from a to b.
func Diff(a, b Snapshot) Change {
	ch := Change{Status: diffStrings(a.Status, b.Status), Flags: diffStrings(a.Flags, b.Flags)}
	for id, v := range b.Versions {
		if old, ok := a.Versions[id]; !ok || old != v {
			ch.Cameras = append(ch.Cameras, id)
		}
	}
	for id := range a.Versions {
		if _, ok := b.Versions[id]; !ok {
			ch.Cameras = append(ch.Cameras, id)
		}
	}
	return ch
}

// diffStrings maps each key whose value changed from a to b to its new
// value ("" when gone).
func diffStrings(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for id, v := range b {
		if a[id] != v {
			out[id] = v
		}
	}
	for id := range a {
		if _, ok := b[id]; !ok {
			out[id] = ""
		}
	}
	return out
}

// Versions reads the registry version of every camera of from (which must
// bind cameras as c) that satisfies where: the whole site with "cameras c"
// and "1 = 1", or one user's scope with access.ScopeFrom and access.Scope.
func Versions(ctx context.Context, db *store.DB, from, where string, args ...any) (map[string]int64, error) {
	rows, err := db.Q().Query(ctx, "SELECT c.id, c.version FROM "+from+" WHERE ("+where+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var v int64
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		out[id] = v
	}
	return out, rows.Err()
}

// Fingerprint names a set of camera versions: it changes when a camera is
// added, removed or changed, and tells a console whether its list is
// current without sending the list.
func Fingerprint(versions map[string]int64) string {
	ids := slices.Sorted(maps.Keys(versions))
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
		h.Write([]byte(strconv.FormatInt(versions[id], 10)))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
