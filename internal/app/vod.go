package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-vms/vigil/internal/media"
)

// Video on demand across tiers (issue 5 item 5). At tier 1 a federated
// camera is a pushed, on-demand hub source, with a pushed sub stream when
// it has one at its site: the first reader of a variant makes the hub call
// onDemand, which asks the camera's lower site to push that variant here;
// the lower site runs a relay (relayStart) of that variant from its own hub
// to our push-in. Main and sub come and go independently.

// vod is the app's share of it: the stop switch for tier 1's requests and
// the lower site's running relays.
type vod struct {
	mu     sync.Mutex
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	runs   map[relayKey]*relayRun // (lower site)
	wg     sync.WaitGroup
	// federated is the set of lower sites' cameras the hub knows (tier 1),
	// refreshed at each source reload.
	federated atomic.Pointer[map[string]bool]
}

// relayKey is one relayed stream: a camera's main or sub.
type relayKey struct {
	camera  string
	variant media.Variant
}

type relayRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (v *vod) init() {
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.runs = map[relayKey]*relayRun{}
}

// onDemand is media.Config.OnDemand at tier 1. It runs on the stream's own
// hub goroutine, so a variant's start and stop requests stay in order.
func (a *App) onDemand(cameraID string, v media.Variant, wanted bool) {
	if a.vod.ctx.Err() != nil || a.Federation == nil || !a.Federation.IsHub() {
		return // shutting down, or not a tier-1 site
	}
	ctx, cancel := context.WithTimeout(a.vod.ctx, 15*time.Second)
	defer cancel()
	if wanted {
		if err := a.Federation.RequestRelay(ctx, cameraID, string(v), a.relayBase()); err != nil && a.vod.ctx.Err() == nil {
			a.Log.Warn("video on demand: could not ask the lower site to push", "camera", cameraID, "variant", string(v), "err", err)
		}
		return
	}
	if err := a.Federation.ReleaseRelay(ctx, cameraID, string(v)); err != nil && a.vod.ctx.Err() == nil {
		a.Log.Warn("video on demand: could not tell the lower site to stop", "camera", cameraID, "variant", string(v), "err", err)
	}
}

// relayBase is tier 1's RTSP push-in as lower sites reach it:
// federation.relay_url, else the RTSP listener (a wildcard host becomes
// loopback, which only suits a single-machine setup).
func (a *App) relayBase() string {
	if u := a.Cfg.Federation.RelayURL; u != "" {
		return u
	}
	addr := a.Hub.RTSPAddr()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "rtsp://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "rtsp://" + net.JoinHostPort(host, port)
}

// relayStart (lower site) pushes a camera's variant ("main" or "sub"; a
// camera without a sub stream gives its main for sub) to tier 1 until
// relayStop, until tier 1 closes the session, or until the camera's stream
// ends here; a running relay of the same camera and variant is replaced
// (tier 1 may have sent a new secret). pushURL holds the secret: it is
// never logged.
func (a *App) relayStart(cameraID, variant, pushURL string) error {
	v := media.Variant(variant)
	if v != media.Main && v != media.Sub {
		return fmt.Errorf("bad variant %q", variant)
	}
	k := relayKey{cameraID, v}
	a.vod.mu.Lock()
	defer a.vod.mu.Unlock()
	if a.vod.closed {
		return errors.New("site shutting down")
	}
	if old := a.vod.runs[k]; old != nil {
		old.cancel()
	}
	ctx, cancel := context.WithCancel(a.vod.ctx)
	run := &relayRun{cancel: cancel, done: make(chan struct{})}
	a.vod.runs[k] = run
	a.vod.wg.Add(1)
	go func() {
		defer a.vod.wg.Done()
		defer close(run.done)
		defer cancel()
		a.Log.Info("relaying camera to tier 1", "camera", cameraID, "variant", variant, "to", media.RedactURL(pushURL))
		err := media.Relay(ctx, a.Hub, cameraID, v, pushURL)
		a.vod.mu.Lock()
		if a.vod.runs[k] == run {
			delete(a.vod.runs, k)
		}
		a.vod.mu.Unlock()
		if err != nil {
			a.Log.Info("relay to tier 1 ended", "camera", cameraID, "variant", variant, "why", err)
		} else {
			a.Log.Info("relay to tier 1 stopped", "camera", cameraID, "variant", variant)
		}
	}()
	return nil
}

// relayStop (lower site) stops the relay of a camera's variant, if any.
func (a *App) relayStop(cameraID, variant string) {
	k := relayKey{cameraID, media.Variant(variant)}
	a.vod.mu.Lock()
	run := a.vod.runs[k]
	delete(a.vod.runs, k)
	a.vod.mu.Unlock()
	if run != nil {
		run.cancel()
	}
}

// Relaying reports whether this (lower) site is pushing cameraID's stream
// variant v to tier 1.
func (a *App) Relaying(cameraID string, v media.Variant) bool {
	a.vod.mu.Lock()
	defer a.vod.mu.Unlock()
	return a.vod.runs[relayKey{cameraID, v}] != nil
}

// stopVOD ends tier 1's requests and the relays, before the hub closes.
func (a *App) stopVOD() {
	a.vod.mu.Lock()
	a.vod.closed = true
	a.vod.mu.Unlock()
	if a.vod.cancel != nil {
		a.vod.cancel()
	}
	a.vod.wg.Wait()
}
