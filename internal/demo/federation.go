package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/vigil-vms/vigil/internal/app"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/federation"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/sim"
)

// The tier-2 site of the demo: the provincial police's own camera system,
// a separate site (its own SQLite file, NATS server and data folder under
// <data>/tier2) enrolled with the demo's tier 1 over a leaf connection. Its
// cameras appear at tier 1 as federated cameras (GET /api/v1/federation/…).
const (
	tier2SiteID = "dien-bien-ca"
	tier2System = "ca-tinh-giao-thong"
)

var tier2Cameras = []registry.CameraInput{
	{ID: "ca-nga-ba-tan-thanh", SystemID: tier2System, Name: "Ngã ba Tân Thanh (Công an tỉnh)", Kinds: []string{"traffic_violation"},
		Purposes: []string{"traffic_safety"}, Area: "intersection", Lat: 21.39210, Lon: 103.02050, AdminUnit: "Phường Tân Thanh", Address: "Ngã ba Tân Thanh"},
	{ID: "ca-quoc-lo-279", SystemID: tier2System, Name: "Quốc lộ 279 – cửa ngõ phía Đông", Kinds: []string{"traffic_counting"},
		Purposes: []string{"traffic_safety", "security_order"}, Area: "road", Lat: 21.38100, Lon: 103.03900, AdminUnit: "Phường Nam Thanh", Address: "Quốc lộ 279"},
}

// startTier2 enrolls and starts the tier-2 site. Enrollment is redone on
// every start (a token costs nothing, and tier 1's leaf port may differ).
func startTier2(ctx context.Context, hub *app.App, sm *sim.Sim, opt Options, log *slog.Logger) (*app.App, error) {
	sys := registry.Actor{UserID: "system", Username: "demo-seed", Remote: "local"}
	if _, err := hub.Registry.GetSystem(ctx, tier2System); errors.Is(err, registry.ErrNotFound) {
		if _, err := hub.Registry.CreateSystem(ctx, sys, registry.System{ID: tier2System, Name: "Hệ thống camera cấp II – Công an tỉnh (giao thông)",
			Tier: 2, ManagingOrgID: "cong-an-tinh", OperatingOrgID: "vnpt-dien-bien", SiteID: tier2SiteID}); err != nil {
			return nil, err
		}
	}
	en, err := hub.Federation.CreateEnrollment(ctx, federation.Actor{UserID: "system", Username: "demo-seed", Remote: "local"},
		tier2SiteID, []string{tier2System}, 0)
	if err != nil {
		return nil, err
	}
	cr, err := hub.Federation.Redeem(ctx, en.Token, tier2SiteID, "local")
	if err != nil {
		return nil, err
	}
	c := config.Default()
	c.Site = config.Site{ID: tier2SiteID, Name: "Công an tỉnh Điện Biên – camera giao thông", Tier: 2, Province: "Điện Biên",
		Timezone: "Asia/Ho_Chi_Minh", Language: "vi"}
	c.Access = hub.Cfg.Access
	c.DataDir = filepath.Join(opt.DataDir, "tier2")
	c.HTTP.Listen, c.RTSP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	c.Federation.StatusInterval = hub.Cfg.Federation.StatusInterval
	a, err := app.Open(ctx, c, log.With("site", tier2SiteID), app.Options{Argon2: opt.Argon2})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*app.App, error) { a.Close(); return nil, err }
	if err := federation.SaveCredentials(c.DataDir, a.Sealer, cr); err != nil {
		return fail(err)
	}
	for _, o := range orgs {
		if o.ID != "cong-an-tinh" && o.ID != "vnpt-dien-bien" {
			continue
		}
		if _, err := a.Registry.GetOrganisation(ctx, o.ID); errors.Is(err, registry.ErrNotFound) {
			if _, err := a.Registry.CreateOrganisation(ctx, sys, o); err != nil {
				return fail(err)
			}
		}
	}
	if _, err := a.Registry.GetSystem(ctx, tier2System); errors.Is(err, registry.ErrNotFound) {
		if _, err := a.Registry.CreateSystem(ctx, sys, registry.System{ID: tier2System, Name: "Camera giao thông Công an tỉnh",
			Tier: 2, ManagingOrgID: "cong-an-tinh", OperatingOrgID: "vnpt-dien-bien", SiteID: tier2SiteID}); err != nil {
			return fail(err)
		}
	}
	for i, in := range tier2Cameras {
		// The simulator's clips stand in for the police cameras.
		src := cameras[i%len(cameras)].in.ID
		in.MainURL, in.SubURL, in.Transport = sm.URL(src, "main"), sm.URL(src, "sub"), "tcp"
		cur, err := a.Registry.GetCamera(ctx, in.ID)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			_, err = a.Registry.CreateCamera(ctx, sys, in)
		case err == nil:
			_, err = a.Registry.UpdateCamera(ctx, sys, in.ID, cur.Version, in)
		}
		if err != nil {
			return fail(fmt.Errorf("tier-2 camera %s: %w", in.ID, err))
		}
	}
	if err := a.Serve(ctx); err != nil {
		return fail(err)
	}
	return a, nil
}

// leafAddr is the demo tier 1's leaf listener: 7422 by default, a free port
// when the demo itself runs on free ports (tests).
func leafAddr(opt Options) string {
	if opt.LeafAddr != "" {
		return opt.LeafAddr
	}
	if strings.HasSuffix(opt.HTTPAddr, ":0") {
		return "127.0.0.1:0"
	}
	return "127.0.0.1:7422"
}
