package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// shipper is a lower site's outbox: it tails the audit log into the local
// VIGIL_UP stream, which tier 1 sources whenever the link is up.
type shipper struct {
	s          *Service
	nc         *nats.Conn
	js         jetstream.JetStream
	lastStatus map[string]bool
	sysCache   map[string]registry.System
}

const shipBatch = 500

func (s *Service) startShipper() error {
	nc, err := s.node.connect("", "vigil-ship")
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: upStream, Subjects: []string{upSubject}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		// Kept long enough for any outage the regulation tolerates and
		// more; tier 1 dedupes by sequence.
		MaxAge: 90 * 24 * time.Hour, MaxBytes: 8 << 30, Duplicates: time.Hour,
	}); err != nil {
		nc.Close()
		return fmt.Errorf("federation: upward stream: %w", err)
	}
	sh := &shipper{s: s, nc: nc, js: js, lastStatus: map[string]bool{}}
	s.shipper = sh
	// Tier 1's questions arrive over the leaf (it never dials in).
	if _, err := nc.Subscribe(askSubject+"."+s.d.Cfg.Site.ID, sh.answer); err != nil {
		nc.Close()
		return err
	}
	if _, err := nc.Subscribe(footageSubject+"."+s.d.Cfg.Site.ID, sh.answerFootage); err != nil {
		nc.Close()
		return err
	}
	s.go_(sh.run)
	s.go_(s.expireClips)
	return nil
}

func (sh *shipper) close() { sh.nc.Close() }

func (sh *shipper) run() {
	s := sh.s
	ctx := s.ctx
	statusEvery := s.d.Cfg.Federation.StatusInterval
	nextStatus := time.Now()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		for {
			n, err := sh.shipOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("federation: shipping failed; will retry", "err", err)
				}
				break
			}
			if n < shipBatch {
				break
			}
		}
		if err := sh.shipHead(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("federation: audit head shipping failed; will retry", "err", err)
		}
		if time.Now().After(nextStatus) {
			if err := sh.shipStatus(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("federation: status shipping failed", "err", err)
			}
			nextStatus = time.Now().Add(statusEvery)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.shipKick:
		}
	}
}

func readCursor(ctx context.Context, q store.Q) (auditSeq, outSeq int64, err error) {
	err = q.QueryRow(ctx, `SELECT audit_seq, out_seq FROM federation_cursor WHERE id = 1`).Scan(&auditSeq, &outSeq)
	return
}

// publish stores envelopes in order, synchronously: the local stream must
// hold them in sequence order, whatever fails midway (a retry republishes
// the same sequence numbers; the stream drops duplicates by message id).
func (sh *shipper) publish(ctx context.Context, envs []Envelope) error {
	for _, e := range envs {
		m := &nats.Msg{Subject: upSubject, Data: e.encode(), Header: nats.Header{}}
		if _, err := sh.js.PublishMsg(ctx, m, jetstream.WithMsgID(fmt.Sprintf("%s-%d", e.Site, e.Seq))); err != nil {
			return err
		}
	}
	return nil
}

// shipOnce ships the next batch of audit entries and the camera changes
// they record; it returns how many entries it shipped.
func (sh *shipper) shipOnce(ctx context.Context) (int, error) {
	s := sh.s
	q := s.d.DB.Q()
	auditSeq, outSeq, err := readCursor(ctx, q)
	if err != nil {
		return 0, err
	}
	entries, err := audit.Since(ctx, q, auditSeq, shipBatch)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	site := s.d.Cfg.Site.ID
	now := nowMS()
	envs := make([]Envelope, 0, 2*len(entries))
	sh.sysCache = map[string]registry.System{}
	for i := range entries {
		e := entries[i]
		// Every camera change has its own entry (a CSV import too: one
		// camera.create per row, then a summary).
		if id, ok := strings.CutPrefix(e.Object, "camera/"); ok && strings.HasPrefix(e.Action, "camera.") {
			env, err := sh.cameraEnvelope(ctx, id)
			if err != nil {
				return 0, err
			}
			outSeq++
			env.V, env.Site, env.Seq, env.At = envelopeVersion, site, outSeq, now
			envs = append(envs, env)
		}
		// An incident about a shared camera goes up whole each time its
		// entry says it changed: tier 1 shows it and follows its state.
		if id, ok := strings.CutPrefix(e.Object, "incident/"); ok && strings.HasPrefix(e.Action, "incident.") {
			inc, ok, err := sh.incidentToShip(ctx, id)
			if err != nil {
				return 0, err
			}
			if ok {
				outSeq++
				envs = append(envs, Envelope{V: envelopeVersion, Site: site, Seq: outSeq, At: now, Kind: KindIncident, Incident: &inc})
			}
		}
		outSeq++
		envs = append(envs, Envelope{V: envelopeVersion, Site: site, Seq: outSeq, At: now, Kind: KindAudit, Audit: &e})
	}
	if err := sh.publish(ctx, envs); err != nil {
		return 0, err
	}
	last := entries[len(entries)-1].Seq
	if _, err := q.Exec(ctx, `UPDATE federation_cursor SET audit_seq = ?, out_seq = ? WHERE id = 1`, last, outSeq); err != nil {
		return 0, err
	}
	return len(entries), nil
}

// cameraEnvelope is the camera's shared state now, or a delete when it is
// gone or not (or no longer) shared: a classified camera never; a private
// owner's camera only with consent on record; only cameras of this site's
// enrolled systems (and of federation.share_systems when set).
func (sh *shipper) cameraEnvelope(ctx context.Context, id string) (Envelope, error) {
	s := sh.s
	del := Envelope{Kind: KindCameraDelete, Camera: &CameraRecord{CameraInput: registry.CameraInput{ID: id}}}
	c, err := s.d.Registry.GetCamera(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		return del, nil
	}
	if err != nil {
		return Envelope{}, err
	}
	del.Camera.SystemID = c.SystemID
	ok, err := sh.shared(ctx, c)
	if err != nil || !ok {
		return del, err
	}
	rec := &CameraRecord{CameraInput: registry.CameraInput{
		ID: c.ID, SystemID: c.SystemID, Name: c.Name, Kinds: c.Kinds, Purposes: c.Purposes, Area: c.Area,
		Lat: c.Lat, Lon: c.Lon, AdminUnit: c.AdminUnit, Address: c.Address, Public: c.Public, Transport: c.Transport,
		OnDemand: true, Consent: c.Consent, InstalledAt: c.InstalledAt,
	}, ChangedAt: store.MS(c.ChangedAt), Version: c.Version, HasSub: c.SubURL != ""}
	return Envelope{Kind: KindCamera, Camera: rec}, nil
}

// incidentToShip is this site's incident id as shipped, when it is about a
// camera shared upward.
func (sh *shipper) incidentToShip(ctx context.Context, id string) (health.ShippedIncident, bool, error) {
	h := sh.s.d.Health
	if h == nil {
		return health.ShippedIncident{}, false, nil
	}
	inc, err := h.Shipped(ctx, id)
	if errors.Is(err, health.ErrNotFound) {
		return inc, false, nil
	}
	if err != nil {
		return inc, false, err
	}
	ok, err := sh.sharedFacts(ctx, inc.CameraID)
	if errors.Is(err, registry.ErrNotFound) {
		return inc, false, nil
	}
	return inc, ok && err == nil, err
}

func (sh *shipper) shared(ctx context.Context, c registry.Camera) (bool, error) {
	if c.Classified {
		return false, nil
	}
	if ok, err := sh.ownSystem(ctx, c.SystemID); err != nil || !ok {
		return false, err
	}
	f, err := sh.s.d.Registry.CameraFacts(ctx, c.ID)
	if err != nil {
		return false, err
	}
	return !f.PrivateOwner || f.ConsentOnRecord, nil
}

// sharedFacts is shared from the camera's facts alone: one query per camera
// instead of two where the whole camera is not needed (status shipping).
func (sh *shipper) sharedFacts(ctx context.Context, id string) (bool, error) {
	f, err := sh.s.d.Registry.CameraFacts(ctx, id)
	if err != nil || f.Classified {
		return false, err
	}
	if ok, err := sh.ownSystem(ctx, f.SystemID); err != nil || !ok {
		return false, err
	}
	return !f.PrivateOwner || f.ConsentOnRecord, nil
}

// ownSystem reports whether cameras of system id are shared: one of this
// site's enrolled systems (and of federation.share_systems when set).
func (sh *shipper) ownSystem(ctx context.Context, id string) (bool, error) {
	s := sh.s
	if s.creds != nil && !slices.Contains(s.creds.Systems, id) {
		return false, nil
	}
	if share := s.d.Cfg.Federation.ShareSystems; len(share) > 0 && !slices.Contains(share, id) {
		return false, nil
	}
	sys, ok := sh.sysCache[id]
	if !ok {
		var err error
		if sys, err = s.d.Registry.GetSystem(ctx, id); err != nil {
			return false, err
		}
		sh.sysCache[id] = sys
	}
	return sys.SiteID == s.d.Cfg.Site.ID, nil
}

// shipStatus sends the cameras whose online state changed since last time
// (all of them after a start).
func (sh *shipper) shipStatus(ctx context.Context) error {
	s := sh.s
	if s.d.Online == nil {
		return nil
	}
	now := s.d.Online()
	q := s.d.DB.Q()
	_, outSeq, err := readCursor(ctx, q)
	if err != nil {
		return err
	}
	var envs []Envelope
	sh.sysCache = map[string]registry.System{}
	ids := make([]string, 0, len(now))
	for id := range now {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		on := now[id]
		if last, ok := sh.lastStatus[id]; ok && last == on {
			continue
		}
		if ok, err := sh.sharedFacts(ctx, id); err != nil || !ok {
			continue
		}
		outSeq++
		envs = append(envs, Envelope{V: envelopeVersion, Site: s.d.Cfg.Site.ID, Seq: outSeq, At: nowMS(), Kind: KindStatus,
			Status: &StatusRecord{CameraID: id, Online: on}})
	}
	if len(envs) == 0 {
		return nil
	}
	if err := sh.publish(ctx, envs); err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `UPDATE federation_cursor SET out_seq = ? WHERE id = 1`, outSeq); err != nil {
		return err
	}
	for _, e := range envs {
		sh.lastStatus[e.Status.CameraID] = e.Status.Online
	}
	return nil
}

// ShipStats is the lower site's outbox position.
type ShipStats struct {
	Enrolled  bool   `json:"enrolled"`
	HubSiteID string `json:"hub_site_id,omitempty"`
	LinkUp    bool   `json:"link_up"`
	AuditSeq  int64  `json:"audit_seq"`
	OutSeq    int64  `json:"out_seq"`
}

// Stats reports this lower site's shipping position.
func (s *Service) Stats(ctx context.Context) (ShipStats, error) {
	st := ShipStats{Enrolled: s.creds != nil, LinkUp: s.LinkUp()}
	if s.creds != nil {
		st.HubSiteID = s.creds.HubSiteID
	}
	var err error
	st.AuditSeq, st.OutSeq, err = readCursor(ctx, s.d.DB.Q())
	return st, err
}

// answer replies to a request from tier 1.
func (sh *shipper) answer(m *nats.Msg) {
	s := sh.s
	rep := AskReply{SiteID: s.d.Cfg.Site.ID}
	req, err := DecodeAskRequest(m.Data)
	if err == nil {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		switch req.Op {
		case "status":
			var st ShipStats
			if st, err = s.Stats(ctx); err == nil {
				rep.Stats = &st
				rep.Cameras, err = sh.sharedCount(ctx)
			}
		case "relay", "relay_stop":
			err = sh.answerRelay(ctx, req)
		}
	}
	if err != nil {
		rep.Error = err.Error()
	} else {
		rep.OK = true
	}
	b, _ := json.Marshal(rep)
	_ = m.Respond(b)
}

func (sh *shipper) sharedCount(ctx context.Context) (int, error) {
	rows, err := sh.s.d.DB.Q().Query(ctx, `SELECT id FROM cameras WHERE origin_site = '' ORDER BY id`)
	if err != nil {
		return 0, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	// Runs on the subscription's goroutine: its own cache, not the
	// shipping loop's.
	own := &shipper{s: sh.s, sysCache: map[string]registry.System{}}
	n := 0
	for _, id := range ids {
		c, err := sh.s.d.Registry.GetCamera(ctx, id)
		if err != nil {
			continue
		}
		if ok, err := own.shared(ctx, c); err == nil && ok {
			n++
		}
	}
	return n, nil
}
