package onvif

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// Sealer protects the device credentials at rest.
type Sealer interface {
	Seal(plain []byte) (string, error)
	Open(sealed string) ([]byte, error)
}

// Options configure the room.
type Options struct {
	DB       *store.DB
	Audit    audit.Appender
	Sealer   Sealer
	Registry *registry.Service
	Log      *slog.Logger
	HTTP     *http.Client
	// Sink receives the notifications of each device's pull point.
	Sink func(cameraID string, ns []Notification)
	// PullTimeout is the PullMessages wait (default 5 s).
	PullTimeout time.Duration
}

// Service is the ONVIF room.
type Service struct {
	o       Options
	mu      sync.Mutex
	clients map[string]*Client
	kick    chan struct{}
}

// New returns the room.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.PullTimeout == 0 {
		o.PullTimeout = 5 * time.Second
	}
	return &Service{o: o, clients: map[string]*Client{}, kick: make(chan struct{}, 1)}
}

// Device is a camera's ONVIF device as the API shows it (no credentials).
type Device struct {
	CameraID      string     `json:"camera_id"`
	XAddr         string     `json:"xaddr"`
	AuthMode      string     `json:"auth_mode" doc:"wsse (WS-Security digest) or digest (HTTP digest)"`
	ClockOffsetMS int64      `json:"clock_offset_ms" doc:"device clock minus ours when last measured"`
	MainProfile   string     `json:"main_profile"`
	SubProfile    string     `json:"sub_profile,omitempty"`
	SnapshotURI   string     `json:"snapshot_uri,omitempty"`
	PTZ           bool       `json:"ptz"`
	Events        bool       `json:"events"`
	Info          DeviceInfo `json:"info"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

type creds struct {
	User string `json:"u"`
	Pass string `json:"p"`
}

// ErrNotAttached: the camera has no ONVIF device.
var ErrNotAttached = errors.New("onvif: camera has no ONVIF device")

// ErrNoPTZ: the device announced no PTZ service.
var ErrNoPTZ = errors.New("onvif: device has no PTZ")

// AttachInput is what an administrator gives to attach a device.
type AttachInput struct {
	XAddr    string
	Username string
	Password string
	Events   bool
	// FillStreams writes the profiles' stream URIs as the camera's main and
	// sub endpoints (with these credentials).
	FillStreams bool
}

func stripUser(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// Attach connects to the device (clock first, unauthenticated; then signed
// with the offset), reads its information, capabilities and profiles, fills
// the camera's stream endpoints, and stores the device. a is the actor.
func (s *Service) Attach(ctx context.Context, a registry.Actor, cameraID string, in AttachInput) (Device, error) {
	if httpURL(in.XAddr) == "" {
		return Device{}, &registry.ValidationError{Field: "xaddr", Code: "invalid_url", Message: "must be the device service http(s) URL"}
	}
	cam, err := s.o.Registry.GetCamera(ctx, cameraID)
	if err != nil {
		return Device{}, err
	}
	c := &Client{XAddr: in.XAddr, Username: in.Username, Password: in.Password, HTTP: s.o.HTTP}
	if _, err := c.SyncClock(ctx); err != nil {
		return Device{}, fmt.Errorf("read device clock: %w", err)
	}
	info, err := c.DeviceInformation(ctx)
	if err != nil {
		return Device{}, err
	}
	caps, err := c.Capabilities(ctx)
	if err != nil {
		return Device{}, err
	}
	profiles, err := c.Profiles(ctx)
	if err != nil {
		return Device{}, err
	}
	main, sub, ok := MainAndSub(profiles)
	if !ok {
		return Device{}, errors.New("onvif: device has no media profile")
	}
	mainURI, err := c.StreamURI(ctx, main.Token)
	if err != nil {
		return Device{}, err
	}
	subURI := ""
	if sub.Token != "" {
		if subURI, err = c.StreamURI(ctx, sub.Token); err != nil {
			return Device{}, err
		}
	}
	snap, _ := c.SnapshotURI(ctx, main.Token) // optional on many devices

	if in.FillStreams {
		ci := inputOf(cam)
		ci.MainURL, ci.SubURL = stripUser(mainURI), stripUser(subURI)
		ci.Username, ci.Password, ci.Push = in.Username, in.Password, false
		if _, err := s.o.Registry.UpdateCamera(ctx, a, cameraID, cam.Version, ci); err != nil {
			return Device{}, err
		}
	}
	cb, _ := json.Marshal(creds{User: in.Username, Pass: in.Password})
	sealed, err := s.o.Sealer.Seal(cb)
	if err != nil {
		return Device{}, err
	}
	mode := "wsse"
	if c.UsesDigest() {
		mode = "digest"
	}
	now := time.Now().UnixMilli()
	d := Device{CameraID: cameraID, XAddr: in.XAddr, AuthMode: mode, ClockOffsetMS: c.ClockOffset().Milliseconds(),
		MainProfile: main.Token, SubProfile: sub.Token, SnapshotURI: stripUser(snap), PTZ: caps.PTZ != "" && main.PTZ,
		Events: in.Events && caps.Events != "", Info: info, UpdatedAt: time.UnixMilli(now)}
	ptzAddr := ""
	if d.PTZ {
		ptzAddr = caps.PTZ
	}
	err = s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM onvif_devices WHERE camera_id = ?`, cameraID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO onvif_devices (camera_id, xaddr, cred_sealed, auth_mode, clock_offset_ms, main_profile, sub_profile,
			media_xaddr, ptz_xaddr, events_xaddr, snapshot_uri, manufacturer, model, firmware, serial, events_enabled, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			cameraID, d.XAddr, sealed, mode, d.ClockOffsetMS, d.MainProfile, d.SubProfile, caps.Media, ptzAddr, caps.Events,
			d.SnapshotURI, info.Manufacturer, info.Model, info.FirmwareVersion, info.SerialNumber, d.Events, now); err != nil {
			return err
		}
		_, err := s.o.Audit.Append(ctx, tx, audit.Entry{ActorID: a.UserID, Actor: a.Username, Org: a.OrgID, Remote: a.Remote,
			Action: "onvif.attach", Object: "camera/" + cameraID, Outcome: audit.OK, Details: map[string]any{
				"xaddr": registry.RedactURL(d.XAddr), "auth_mode": mode, "clock_offset_ms": d.ClockOffsetMS, "main_profile": d.MainProfile,
				"sub_profile": d.SubProfile, "filled_streams": in.FillStreams, "events": d.Events, "model": info.Model}})
		return err
	})
	if err != nil {
		return Device{}, err
	}
	s.mu.Lock()
	s.clients[cameraID] = c
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return d, nil
}

func inputOf(c registry.Camera) registry.CameraInput {
	return registry.CameraInput{ID: c.ID, SystemID: c.SystemID, Name: c.Name, Kinds: c.Kinds, Purposes: c.Purposes, Area: c.Area,
		Lat: c.Lat, Lon: c.Lon, AdminUnit: c.AdminUnit, Address: c.Address, Classified: c.Classified, Public: c.Public,
		MainURL: c.MainURL, SubURL: c.SubURL, Transport: c.Transport, OnDemand: c.OnDemand, Push: c.Push, Consent: c.Consent,
		InstalledAt: c.InstalledAt}
}

const deviceCols = `camera_id, xaddr, cred_sealed, auth_mode, clock_offset_ms, main_profile, sub_profile, media_xaddr, ptz_xaddr,
	events_xaddr, snapshot_uri, manufacturer, model, firmware, serial, events_enabled, updated_at`

type row struct {
	Device
	sealed                string
	media, ptz, eventsURL string
}

func scanRow(sc interface{ Scan(...any) error }) (row, error) {
	var r row
	var upd int64
	err := sc.Scan(&r.CameraID, &r.XAddr, &r.sealed, &r.AuthMode, &r.ClockOffsetMS, &r.MainProfile, &r.SubProfile, &r.media, &r.ptz,
		&r.eventsURL, &r.SnapshotURI, &r.Info.Manufacturer, &r.Info.Model, &r.Info.FirmwareVersion, &r.Info.SerialNumber, &r.Events, &upd)
	r.PTZ = r.ptz != ""
	r.UpdatedAt = store.Time(upd)
	return r, err
}

// Get reads a camera's device.
func (s *Service) Get(ctx context.Context, cameraID string) (Device, error) {
	r, err := scanRow(s.o.DB.Q().QueryRow(ctx, `SELECT `+deviceCols+` FROM onvif_devices WHERE camera_id = ?`, cameraID))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, ErrNotAttached
	}
	return r.Device, err
}

// client returns the (cached) client of a camera and its row.
func (s *Service) client(ctx context.Context, cameraID string) (*Client, row, error) {
	r, err := scanRow(s.o.DB.Q().QueryRow(ctx, `SELECT `+deviceCols+` FROM onvif_devices WHERE camera_id = ?`, cameraID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, r, ErrNotAttached
	}
	if err != nil {
		return nil, r, err
	}
	s.mu.Lock()
	c := s.clients[cameraID]
	s.mu.Unlock()
	if c != nil && c.XAddr == r.XAddr {
		return c, r, nil
	}
	b, err := s.o.Sealer.Open(r.sealed)
	if err != nil {
		return nil, r, fmt.Errorf("onvif: open credentials: %w", err)
	}
	var cr creds
	if err := json.Unmarshal(b, &cr); err != nil {
		return nil, r, err
	}
	c = &Client{XAddr: r.XAddr, Username: cr.User, Password: cr.Pass, HTTP: s.o.HTTP}
	if r.AuthMode == "digest" {
		c.Auth = AuthDigest
	}
	c.SetClockOffset(time.Duration(r.ClockOffsetMS) * time.Millisecond)
	c.caps = Capabilities{Media: r.media, PTZ: r.ptz, Events: r.eventsURL}
	s.mu.Lock()
	s.clients[cameraID] = c
	s.mu.Unlock()
	return c, r, nil
}

// retry runs fn; on an authentication refusal it re-reads the device clock
// (clocks drift) and tries once more.
func retry(ctx context.Context, c *Client, fn func() error) error {
	err := fn()
	if errors.Is(err, ErrUnauthorized) && !c.UsesDigest() {
		if _, serr := c.SyncClock(ctx); serr == nil {
			err = fn()
		}
	}
	return err
}

// PTZRequest is one PTZ command.
type PTZRequest struct {
	Op        string  `json:"op"` // move, stop, goto_preset
	Pan, Tilt float64 `json:"-"`
	Zoom      float64 `json:"-"`
	Timeout   time.Duration
	Preset    string
}

// PTZ runs a command on the camera's device and writes it to the audit log
// (outcome ok or failed). The caller has already decided access (action ptz).
func (s *Service) PTZ(ctx context.Context, a registry.Actor, cameraID string, r PTZRequest) error {
	c, row, err := s.client(ctx, cameraID)
	if err != nil {
		return err
	}
	if !row.PTZ {
		return ErrNoPTZ
	}
	err = retry(ctx, c, func() error {
		switch r.Op {
		case "move":
			return c.ContinuousMove(ctx, row.MainProfile, r.Pan, r.Tilt, r.Zoom, r.Timeout)
		case "stop":
			return c.Stop(ctx, row.MainProfile)
		case "goto_preset":
			return c.GotoPreset(ctx, row.MainProfile, r.Preset)
		}
		return fmt.Errorf("onvif: unknown PTZ op %q", r.Op)
	})
	e := audit.Entry{ActorID: a.UserID, Actor: a.Username, Org: a.OrgID, Remote: a.Remote, Action: "ptz." + r.Op,
		Object: "camera/" + cameraID, Outcome: audit.OK}
	switch r.Op {
	case "move":
		e.Details = map[string]any{"pan": r.Pan, "tilt": r.Tilt, "zoom": r.Zoom, "timeout_ms": r.Timeout.Milliseconds()}
	case "goto_preset":
		e.Details = map[string]any{"preset": r.Preset}
	}
	if err != nil {
		e.Outcome, e.Reason = audit.Failed, clean(err.Error(), 200)
	}
	if _, aerr := s.o.Audit.Append(ctx, s.o.DB.Q(), e); aerr != nil {
		return aerr
	}
	return err
}

// Presets lists the PTZ presets.
func (s *Service) Presets(ctx context.Context, cameraID string) ([]Preset, error) {
	c, row, err := s.client(ctx, cameraID)
	if err != nil {
		return nil, err
	}
	if !row.PTZ {
		return nil, ErrNoPTZ
	}
	var ps []Preset
	err = retry(ctx, c, func() error { var e error; ps, e = c.Presets(ctx, row.MainProfile); return e })
	return ps, err
}

// Run keeps one pull-point subscription per device with events enabled,
// until ctx ends.
func (s *Service) Run(ctx context.Context) {
	running := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, c := range running {
			c()
		}
		wg.Wait()
	}()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		ids, err := s.eventDevices(ctx)
		if err != nil && ctx.Err() == nil {
			s.o.Log.Error("onvif: list devices", "err", err)
		}
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
			if _, ok := running[id]; !ok {
				cctx, cancel := context.WithCancel(ctx)
				running[id] = cancel
				wg.Add(1)
				go func() { defer wg.Done(); s.pullLoop(cctx, id) }()
			}
		}
		for id, cancel := range running {
			if !want[id] {
				cancel()
				delete(running, id)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *Service) eventDevices(ctx context.Context) ([]string, error) {
	rows, err := s.o.DB.Q().Query(ctx, `SELECT camera_id FROM onvif_devices WHERE events_enabled = ?`, true)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

const subTTL = time.Minute

func (s *Service) pullLoop(ctx context.Context, cameraID string) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := s.pullOnce(ctx, cameraID)
		if ctx.Err() != nil {
			return
		}
		s.o.Log.Warn("onvif: pull point ended", "camera", cameraID, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Service) pullOnce(ctx context.Context, cameraID string) error {
	c, _, err := s.client(ctx, cameraID)
	if err != nil {
		return err
	}
	var sub Subscription
	if err := retry(ctx, c, func() error { var e error; sub, e = c.CreatePullPoint(ctx, subTTL); return e }); err != nil {
		return err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = c.Unsubscribe(uctx, sub)
		cancel()
	}()
	renewed := time.Now()
	for ctx.Err() == nil {
		ns, err := c.PullMessages(ctx, sub, s.o.PullTimeout, 100)
		if err != nil {
			return err
		}
		if len(ns) > 0 && s.o.Sink != nil {
			s.o.Sink(cameraID, ns)
		}
		if time.Since(renewed) > subTTL/2 {
			if err := c.Renew(ctx, sub, subTTL); err != nil {
				return err
			}
			renewed = time.Now()
		}
	}
	return nil
}
