package auth

import (
	"context"
	"time"
)

// OnUserDisabled registers fn to be called with the id of each user who is
// disabled, so the media hub can end that user's live streams. Disables made
// through this Service are announced right after commit; those made on other
// nodes are found by Run within Policy.RevocationPoll. fn may be called more
// than once for one disable and must not block for long. The returned func
// unregisters it.
func (s *Service) OnUserDisabled(fn func(userID string)) (cancel func()) {
	s.mu.Lock()
	id := s.nextID
	s.nextID++
	s.listeners[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.listeners, id)
		s.mu.Unlock()
	}
}

// announce calls the listeners once per (user, disable time).
func (s *Service) announce(userID string, disabledAt int64) {
	s.mu.Lock()
	if s.announced[userID] == disabledAt {
		s.mu.Unlock()
		return
	}
	s.announced[userID] = disabledAt
	fns := make([]func(string), 0, len(s.listeners))
	for _, fn := range s.listeners {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(userID)
	}
}

// pollRevocations announces users disabled since the cursor and returns the
// new cursor. It looks back a little before the cursor because another
// node's clock (which wrote disabled_at) may lag ours; announce dedupes.
func (s *Service) pollRevocations(ctx context.Context, cursor int64) (int64, error) {
	const overlap = 30 * time.Second
	rows, err := s.db.Q().Query(ctx, `SELECT id, disabled_at FROM users WHERE disabled = TRUE AND disabled_at > ? ORDER BY disabled_at`,
		cursor-overlap.Milliseconds())
	if err != nil {
		return cursor, err
	}
	type hit struct {
		id string
		at int64
	}
	var hits []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.id, &h.at); err != nil {
			rows.Close()
			return cursor, err
		}
		hits = append(hits, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return cursor, err
	}
	for _, h := range hits {
		s.announce(h.id, h.at)
		if h.at > cursor {
			cursor = h.at
		}
	}
	return cursor, nil
}

// Run does the background work until ctx ends: announcing users disabled on
// other nodes (every RevocationPoll) and sweeping expired rows (every
// minute). Errors are retried at the next tick; Run returns ctx.Err().
func (s *Service) Run(ctx context.Context) error {
	// Start from the newest disable already recorded: those before this
	// process started have no live streams here.
	var cursor int64
	_ = s.db.Q().QueryRow(ctx, `SELECT COALESCE(MAX(disabled_at), 0) FROM users`).Scan(&cursor)
	s.mu.Lock()
	s.announced = map[string]int64{}
	s.mu.Unlock()
	// Remember the already-disabled so the overlap does not re-announce them.
	if rows, err := s.db.Q().Query(ctx, `SELECT id, disabled_at FROM users WHERE disabled = TRUE AND disabled_at > ?`,
		cursor-(30*time.Second).Milliseconds()); err == nil {
		s.mu.Lock()
		for rows.Next() {
			var id string
			var at int64
			if rows.Scan(&id, &at) == nil {
				s.announced[id] = at
			}
		}
		s.mu.Unlock()
		rows.Close()
	}
	if s.runReady != nil {
		s.runReady()
	}
	poll := time.NewTicker(s.pol.RevocationPoll)
	defer poll.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
			if c, err := s.pollRevocations(ctx, cursor); err == nil {
				cursor = c
			}
		case <-sweep.C:
			_ = s.Sweep(ctx)
		}
	}
}

// Sweep deletes expired sessions, stale login failures and ended locks.
func (s *Service) Sweep(ctx context.Context) error {
	nowMS := s.nowMS()
	q := s.db.Q()
	if _, err := q.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?`,
		nowMS, nowMS-s.pol.SessionIdle.Milliseconds()); err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `DELETE FROM login_failures WHERE at <= ?`, nowMS-s.pol.LockoutWindow.Milliseconds()); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `DELETE FROM login_locks WHERE locked_until <= ? AND updated_at <= ?`,
		nowMS, nowMS-s.pol.LockoutWindow.Milliseconds())
	return err
}
