package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/web/console/feed"
)

// The console's event stream: how often the site is read for changes, how
// often a quiet stream says it is alive (the console warns when it hears
// nothing for three of these), how often a stream re-reads its user's scope
// (grants that expire), and how long one stream lives before the browser
// reconnects (and so authenticates again: a session that ended ends its
// stream within this).
const (
	liveFeedEvery     = time.Second
	liveHeartbeat     = 3 * time.Second
	liveRescopeEvery  = time.Minute
	liveStreamMaxLife = 5 * time.Minute
)

// statusRank orders statuses: a camera is as good as its best source.
var statusRank = map[string]int{media.StatusOnline: 4, media.StatusConnecting: 3, media.StatusIdle: 2, media.StatusOffline: 1}

// siteStatuses is each camera's status as the API reports it: the health
// room's stored status (which, for a federated camera, is its own site's),
// raised by what the hub sees live now (any variant).
func (s *Server) siteStatuses(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	if s.Health != nil {
		sts, err := s.Health.Statuses(ctx)
		if err != nil {
			return nil, err
		}
		for id, st := range sts {
			out[id] = st.Status
		}
	}
	if s.Hub != nil {
		for _, st := range s.Hub.States() {
			if statusRank[st.Status] > statusRank[out[st.CameraID]] {
				out[st.CameraID] = st.Status
			}
		}
	}
	return out, nil
}

func (s *Server) readSite(ctx context.Context) (feed.Snapshot, error) {
	v, err := feed.Versions(ctx, s.DB, "cameras c", "1 = 1")
	if err != nil {
		return feed.Snapshot{}, err
	}
	st, err := s.siteStatuses(ctx)
	if err != nil {
		return feed.Snapshot{}, err
	}
	fl, err := s.siteFlags(ctx)
	if err != nil {
		return feed.Snapshot{}, err
	}
	return feed.Snapshot{Versions: v, Status: st, Flags: fl}, nil
}

// siteFlags are the icons of the console's tree: "ptz" for a camera with an
// ONVIF PTZ service, "rec" while a segment of it is being recorded.
func (s *Server) siteFlags(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	add := func(id, f string) {
		if out[id] != "" {
			f = out[id] + " " + f
		}
		out[id] = f
	}
	if s.ONVIF != nil {
		rows, err := s.DB.Q().Query(ctx, "SELECT camera_id FROM onvif_devices WHERE ptz_xaddr <> ''")
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			add(id, "ptz")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if s.Recorder != nil {
		for _, r := range s.Recorder.Recording() {
			if r.Recording {
				add(r.CameraID, "rec")
			}
		}
	}
	return out, nil
}

// visibleCameras is the caller's scope for live viewing, as camera versions
// (the same scope as GET /cameras).
func (s *Server) visibleCameras(ctx context.Context, c *caller) (map[string]int64, error) {
	where, args := access.Scope(&c.subj, access.ViewLive, time.Now())
	return feed.Versions(ctx, s.DB, access.ScopeFrom, where, args...)
}

// liveHello is the first event of a stream: the fingerprint of the cameras
// the caller may watch (the console reloads its list when it differs from
// the last it saw) and their statuses.
type liveHello struct {
	Registry    string            `json:"registry"`
	Status      map[string]string `json:"status"`
	Flags       map[string]string `json:"flags"`
	HeartbeatMS int64             `json:"heartbeat_ms"`
}

func (s *Server) routesLive() {
	huma.Register(s.api, op(http.MethodGet, "/api/v1/live/events", "live-events",
		"Server-sent events for the console: hello {registry, status, flags, heartbeat_ms}, then registry {registry} when the cameras "+
			"I may watch change, status {camera id: status} and flags {camera id: \"ptz rec\"} when they change, and ping every heartbeat_ms. "+
			"Scoped like GET /cameras.", "live"),
		func(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			visible, err := s.visibleCameras(ctx, c)
			if err != nil {
				return nil, s.internal(ctx, "live scope", err)
			}
			sub, snap, err := s.feed.Subscribe(ctx)
			if err != nil {
				return nil, s.internal(ctx, "live feed", err)
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				defer s.feed.Unsubscribe(sub)
				s.streamLive(hctx, c, sub, snap, visible)
			}}, nil
		})
}

func (s *Server) streamLive(hctx huma.Context, c *caller, sub *feed.Sub, snap feed.Snapshot, visible map[string]int64) {
	ctx := hctx.Context()
	hctx.SetHeader("Content-Type", "text/event-stream")
	hctx.SetHeader("X-Accel-Buffering", "no")
	w := hctx.BodyWriter()
	flush := func() error { return nil }
	if f, ok := w.(interface{ FlushError() error }); ok {
		flush = f.FlushError
	} else if f, ok := w.(http.Flusher); ok {
		flush = func() error { f.Flush(); return nil }
	}
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return flush() == nil
	}
	scoped := func(st map[string]string) map[string]string {
		out := map[string]string{}
		for id, v := range st {
			if _, ok := visible[id]; ok {
				out[id] = v
			}
		}
		return out
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	fp := feed.Fingerprint(visible)
	if !send("hello", liveHello{Registry: fp, Status: scoped(snap.Status), Flags: scoped(snap.Flags), HeartbeatMS: liveHeartbeat.Milliseconds()}) {
		return
	}
	// rescope re-reads the caller's scope; a changed fingerprint is told,
	// with the statuses of cameras that came into view.
	rescope := func(status, flags map[string]string) bool {
		v, err := s.visibleCameras(ctx, c)
		if err != nil {
			return true // keep the last scope; the next change or tick tries again
		}
		added, addedFlags := map[string]string{}, map[string]string{}
		for id := range v {
			if _, was := visible[id]; !was {
				if st, ok := status[id]; ok {
					added[id] = st
				}
				if f, ok := flags[id]; ok {
					addedFlags[id] = f
				}
			}
		}
		visible = v
		if nfp := feed.Fingerprint(v); nfp != fp {
			fp = nfp
			if !send("registry", map[string]string{"registry": fp}) {
				return false
			}
		}
		return (len(added) == 0 || send("status", added)) && (len(addedFlags) == 0 || send("flags", addedFlags))
	}
	status, flags := snap.Status, snap.Flags // the site's, kept current for rescope
	if flags == nil {
		flags = map[string]string{}
	}
	if status == nil {
		status = map[string]string{}
	}
	beat := time.NewTicker(liveHeartbeat)
	defer beat.Stop()
	again := time.NewTicker(liveRescopeEvery)
	defer again.Stop()
	end := time.NewTimer(liveStreamMaxLife)
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.ending:
			return
		case <-end.C:
			return
		case <-beat.C:
			if !send("ping", map[string]int64{"at": time.Now().UnixMilli()}) {
				return
			}
		case <-again.C:
			if !rescope(status, flags) {
				return
			}
		case ch, ok := <-sub.C:
			if !ok {
				return // fell behind: the browser reconnects and starts from a fresh hello
			}
			apply(status, ch.Status)
			apply(flags, ch.Flags)
			if len(ch.Cameras) > 0 && !rescope(status, flags) {
				return
			}
			if st := scoped(ch.Status); len(st) > 0 && !send("status", st) {
				return
			}
			if fl := scoped(ch.Flags); len(fl) > 0 && !send("flags", fl) {
				return
			}
		}
	}
}

// apply writes a change into m ("" deletes).
func apply(m, ch map[string]string) {
	for id, v := range ch {
		if v == "" {
			delete(m, id)
		} else {
			m[id] = v
		}
	}
}

// EndStreams ends every open event stream (the browsers reconnect to
// whichever server answers next). For http.Server.RegisterOnShutdown.
func (s *Server) EndStreams() { s.endOnce.Do(func() { close(s.ending) }) }
