package health

import (
	"context"
	"sort"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// The platform's own running time. Each start of the process inserts a row
// of platform_runs; Run moves its last_beat forward every sample, and Close
// once more at a clean stop. The union of [started_at, last_beat] over every
// run (of every node of the site) is when the platform watched its cameras;
// camera uptime counts only that time, and the rest is the platform's
// downtime, reported on its own. A crash loses at most one sample interval
// of the run. Time before the first recorded run (a site upgraded from a
// version without runs) is taken as covered: nothing says it was down.

// span is a half-open time interval [a, b) in unix milliseconds.
type span struct{ a, b int64 }

// coverage is the merged, sorted running time of the platform.
type coverage []span

// covered is how much of [a, b) the platform was running.
func (c coverage) covered(a, b int64) int64 {
	if c == nil {
		return max(b-a, 0)
	}
	var n int64
	for _, s := range c {
		lo, hi := max(a, s.a), min(b, s.b)
		if hi > lo {
			n += hi - lo
		}
	}
	return n
}

// StartRun records that this process started watching; later beats extend
// it. It is called once, before the first sample.
func (s *Service) StartRun(ctx context.Context, node string) error {
	now := store.MS(s.now())
	id := newID("run-")
	if _, err := s.opt.DB.Q().Exec(ctx, `INSERT INTO platform_runs (id, node, started_at, last_beat) VALUES (?, ?, ?, ?)`,
		id, node, now, now); err != nil {
		return err
	}
	s.runMu.Lock()
	s.runID, s.runStart = id, now
	s.runMu.Unlock()
	return nil
}

// Beat moves this run's end forward to now.
func (s *Service) Beat(ctx context.Context) error {
	s.runMu.Lock()
	id := s.runID
	s.runMu.Unlock()
	if id == "" {
		return nil
	}
	_, err := s.opt.DB.Q().Exec(ctx, `UPDATE platform_runs SET last_beat = ? WHERE id = ?`, store.MS(s.now()), id)
	return err
}

// platformCoverage reads the running time of the platform. This process's
// own run counts up to now (its last beat may be a sample old).
func (s *Service) platformCoverage(ctx context.Context) (coverage, error) {
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT id, started_at, last_beat FROM platform_runs ORDER BY started_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	s.runMu.Lock()
	own := s.runID
	s.runMu.Unlock()
	now := store.MS(s.now())
	var spans []span
	for rows.Next() {
		var id string
		var x span
		if err := rows.Scan(&id, &x.a, &x.b); err != nil {
			return nil, err
		}
		if id == own {
			x.b = now
		}
		spans = append(spans, x)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return nil, nil // no run recorded: nothing to leave out
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].a < spans[j].a })
	// Before the first run: unknown, taken as running (see above).
	out := coverage{{a: -1 << 62, b: spans[0].b}}
	for _, x := range spans[1:] {
		last := &out[len(out)-1]
		if x.a <= last.b {
			last.b = max(last.b, x.b)
			continue
		}
		out = append(out, x)
	}
	return out, nil
}

// PlatformDowntime is the time in [from, to) (to: at most now) during which
// the platform itself was not running, and the intervals of it.
type PlatformDowntime struct {
	From  time.Time     `json:"from"`
	To    time.Time     `json:"to"`
	Down  time.Duration `json:"down_ns"`
	Spans []DownSpan    `json:"spans"`
}

// DownSpan is one interval the platform was not running.
type DownSpan struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Downtime reports the platform's own downtime over [from, to).
func (s *Service) Downtime(ctx context.Context, from, to time.Time) (PlatformDowntime, error) {
	if now := s.now(); to.After(now) {
		to = now
	}
	d := PlatformDowntime{From: from, To: to, Spans: []DownSpan{}}
	cov, err := s.platformCoverage(ctx)
	if err != nil || cov == nil {
		return d, err
	}
	a, b := store.MS(from), store.MS(to)
	cur := a
	for _, x := range cov {
		if x.b <= cur {
			continue
		}
		if x.a >= b {
			break
		}
		if x.a > cur {
			d.Spans = append(d.Spans, DownSpan{From: store.Time(cur), To: store.Time(x.a)})
			d.Down += time.Duration(x.a-cur) * time.Millisecond
		}
		cur = max(cur, x.b)
	}
	if cur < b {
		d.Spans = append(d.Spans, DownSpan{From: store.Time(cur), To: store.Time(b)})
		d.Down += time.Duration(b-cur) * time.Millisecond
	}
	return d, nil
}
