// Package demo seeds and runs the one-command demo site: a tier-1 site on
// SQLite with simulated cameras in Điện Biên Phủ, three organisations with
// users that show how access is scoped, and a demo admin.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-vms/vigil/internal/app"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/sim"
)

// Info is what the demo prints and writes to <data>/demo.json.
type Info struct {
	ConsoleURL    string            `json:"console_url"`
	APIURL        string            `json:"api_url"`
	RTSPURL       string            `json:"rtsp_url"`
	AdminUser     string            `json:"admin_user"`
	AdminPassword string            `json:"admin_password"`
	Users         map[string]string `json:"users"` // other demo users → password
	Cameras       []string          `json:"cameras"`
	SimURL        string            `json:"sim_url"`
	PublicURL     string            `json:"public_url,omitempty"` // citizen-app endpoint and page
	// Tier2URL is the tier-2 site's console/API when Options.Tier2 is set;
	// Tier2 is that site, for the caller to close.
	Tier2URL string   `json:"tier2_url,omitempty"`
	Tier2    *app.App `json:"-"`
}

// Options of the demo.
type Options struct {
	DataDir  string
	HTTPAddr string // default 127.0.0.1:8080
	RTSPAddr string // default 127.0.0.1:8554
	SimAddr  string // default 127.0.0.1:8555
	Argon2   auth.Argon2Params

	// PublicAddr is the public (citizen-app) listener; default
	// 127.0.0.1:8081, or a free port when HTTPAddr asks for one.
	PublicAddr string

	// Tier2 also runs a tier-2 site enrolled with the demo's tier 1 over a
	// leaf connection on LeafAddr (default 127.0.0.1:7422).
	Tier2    bool
	LeafAddr string
}

// Org, system and camera seeds. Coordinates are real places of Điện Biên
// Phủ city; the highest-access organisation is the department (Sở Khoa học
// và Công nghệ since the 2025 merger of Sở TT&TT), configurable like any site.
var orgs = []registry.Organisation{
	{ID: "so-khcn", Name: "Sở Khoa học và Công nghệ tỉnh Điện Biên", Kind: registry.OrgDepartment, ClearedClassified: true},
	{ID: "cong-an-tinh", Name: "Công an tỉnh Điện Biên", Kind: registry.OrgUserAgency, Functions: []string{"security_order", "traffic_safety"}},
	{ID: "ubnd-muong-thanh", Name: "UBND phường Mường Thanh", Kind: registry.OrgCommune, Functions: []string{"urban_order"}},
	{ID: "vnpt-dien-bien", Name: "VNPT Điện Biên", Kind: registry.OrgOperatingUnit},
	{ID: "kiem-lam", Name: "Chi cục Kiểm lâm tỉnh Điện Biên", Kind: registry.OrgUserAgency, Functions: []string{"forest_fire", "rescue"}},
}

var systems = []registry.System{
	{ID: "ioc-tinh", Name: "Hệ thống camera cấp I – IOC tỉnh", Tier: 1, ManagingOrgID: "so-khcn", OperatingOrgID: "vnpt-dien-bien", PublicSharing: true},
	{ID: "p-muong-thanh", Name: "Hệ thống camera cấp III – phường Mường Thanh", Tier: 3, ManagingOrgID: "ubnd-muong-thanh", OperatingOrgID: "vnpt-dien-bien", PublicSharing: true},
}

type camSeed struct {
	in    registry.CameraInput
	codec string
}

var cameras = []camSeed{
	{registry.CameraInput{ID: "cam-nga-tu-muong-thanh", SystemID: "ioc-tinh", Name: "Ngã tư Mường Thanh", Kinds: []string{"traffic_violation", "traffic_counting"},
		Purposes: []string{"traffic_safety", "security_order"}, Area: "intersection", Lat: 21.38602, Lon: 103.01917, AdminUnit: "Phường Mường Thanh", Address: "Ngã tư Võ Nguyên Giáp – Hoàng Văn Thái", Public: true}, "h264"},
	{registry.CameraInput{ID: "cam-vo-nguyen-giap", SystemID: "ioc-tinh", Name: "Đường Võ Nguyên Giáp – cầu A1", Kinds: []string{"traffic_counting"},
		Purposes: []string{"traffic_safety"}, Area: "road", Lat: 21.38380, Lon: 103.02240, AdminUnit: "Phường Mường Thanh", Address: "Đường Võ Nguyên Giáp", Public: true}, "h264"},
	{registry.CameraInput{ID: "cam-quang-truong-7-5", SystemID: "ioc-tinh", Name: "Quảng trường 7/5", Kinds: []string{"crowd_detection", "security"},
		Purposes: []string{"security_order", "urban_order"}, Area: "public_crowded", Lat: 21.38916, Lon: 103.01656, AdminUnit: "Phường Mường Thanh", Address: "Quảng trường 7/5", Public: true}, "h264"},
	{registry.CameraInput{ID: "cam-cho-trung-tam", SystemID: "p-muong-thanh", Name: "Chợ trung tâm 1", Kinds: []string{"security"},
		Purposes: []string{"urban_order", "security_order"}, Area: "public_crowded", Lat: 21.38750, Lon: 103.01530, AdminUnit: "Phường Mường Thanh", Address: "Chợ trung tâm 1, phường Mường Thanh"}, "h264"},
	{registry.CameraInput{ID: "cam-cau-muong-thanh", SystemID: "p-muong-thanh", Name: "Cầu Mường Thanh", Kinds: []string{"traffic_violation"},
		Purposes: []string{"traffic_safety"}, Area: "road", Lat: 21.38470, Lon: 103.01350, AdminUnit: "Phường Mường Thanh", Address: "Cầu Mường Thanh qua sông Nậm Rốm"}, "h265"},
	{registry.CameraInput{ID: "cam-tru-so-cong-an", SystemID: "ioc-tinh", Name: "Khu vực trụ sở (mật)", Kinds: []string{"security", "face_recognition"},
		Purposes: []string{"security_order"}, Area: "internal", Lat: 21.39010, Lon: 103.01800, AdminUnit: "Phường Tân Thanh", Address: "Khu vực bảo vệ", Classified: true}, "h264"},
	{registry.CameraInput{ID: "cam-san-bay", SystemID: "ioc-tinh", Name: "Cảng hàng không Điện Biên Phủ", Kinds: []string{"security"},
		Purposes: []string{"security_order"}, Area: "public_other", Lat: 21.39770, Lon: 103.00800, AdminUnit: "Phường Thanh Trường", Address: "Cảng hàng không Điện Biên Phủ"}, "h264"},
	{registry.CameraInput{ID: "cam-rung-muong-phang", SystemID: "ioc-tinh", Name: "Rừng Mường Phăng – chòi canh lửa", Kinds: []string{"other_ai"},
		Purposes: []string{"forest_fire", "rescue"}, Area: "public_other", Lat: 21.45300, Lon: 103.15600, AdminUnit: "Xã Mường Phăng", Address: "Khu di tích Sở chỉ huy Mường Phăng"}, "h264"},
}

type userSeed struct {
	username, display, org string
	roles                  []string
}

var users = []userSeed{
	{"admin", "Quản trị IOC", "so-khcn", []string{"admin", "auditor"}},
	{"congan", "Cán bộ Công an tỉnh", "cong-an-tinh", []string{"operator"}},
	{"phuong", "Cán bộ phường Mường Thanh", "ubnd-muong-thanh", []string{"operator"}},
	{"kiemlam", "Cán bộ Kiểm lâm", "kiem-lam", []string{"viewer"}},
}

// Config is the demo site's configuration.
func Config(opt Options) config.Config {
	c := config.Default()
	c.Site = config.Site{ID: "dien-bien-ioc", Name: "Trung tâm IOC tỉnh Điện Biên", Tier: 1, Province: "Điện Biên",
		Timezone: "Asia/Ho_Chi_Minh", Language: "vi"}
	c.Access.HighestOrg = "so-khcn"
	c.Access.HighestOrgName = "Sở Khoa học và Công nghệ tỉnh Điện Biên"
	c.DataDir = opt.DataDir
	c.HTTP.Listen = opt.HTTPAddr
	c.RTSP.Listen = opt.RTSPAddr
	c.Public.Listen = opt.PublicAddr
	if opt.Tier2 {
		c.Federation.LeafListen = leafAddr(opt)
	}
	return c
}

// Run starts the simulator and the site, seeds it on first start, writes
// demo.json and returns the running pieces; the caller stops them.
func Run(ctx context.Context, opt Options, log *slog.Logger) (*app.App, *sim.Sim, Info, error) {
	if opt.PublicAddr == "" {
		opt.PublicAddr = "127.0.0.1:8081"
		if strings.HasSuffix(opt.HTTPAddr, ":0") {
			opt.PublicAddr = "127.0.0.1:0"
		}
	}
	if opt.HTTPAddr == "" {
		opt.HTTPAddr = "127.0.0.1:8080"
	}
	if opt.RTSPAddr == "" {
		opt.RTSPAddr = "127.0.0.1:8554"
	}
	if opt.SimAddr == "" {
		opt.SimAddr = "127.0.0.1:8555"
	}
	if err := os.MkdirAll(opt.DataDir, 0o700); err != nil {
		return nil, nil, Info{}, err
	}
	specs := make([]sim.CameraSpec, 0, len(cameras))
	for i, c := range cameras {
		specs = append(specs, sim.CameraSpec{ID: c.in.ID, Codec: c.codec, Audio: i == 0})
	}
	sm, err := sim.Start(ctx, sim.Config{Addr: opt.SimAddr, User: "camera", Pass: "sim-" + rand.Text()[:12], Cameras: specs, Logger: log.With("room", "sim")})
	if err != nil {
		return nil, nil, Info{}, fmt.Errorf("simulated cameras: %w", err)
	}
	a, err := app.Open(ctx, Config(opt), log, app.Options{Argon2: opt.Argon2})
	if err != nil {
		sm.Close()
		return nil, nil, Info{}, err
	}
	info, err := seed(ctx, a, sm, opt.DataDir)
	if err != nil {
		a.Close()
		sm.Close()
		return nil, nil, Info{}, fmt.Errorf("seed demo: %w", err)
	}
	if err := a.Serve(ctx); err != nil {
		a.Close()
		sm.Close()
		return nil, nil, Info{}, err
	}
	info.ConsoleURL = a.URL() + "/"
	info.APIURL = a.URL() + "/api/v1"
	info.RTSPURL = "rtsp://" + a.Hub.RTSPAddr()
	info.SimURL = "rtsp://" + sm.Addr()
	if a.Public != nil {
		info.PublicURL = a.Public.URL() + "/"
	}
	if opt.Tier2 {
		t2, err := startTier2(ctx, a, sm, opt, log)
		if err != nil {
			return a, sm, info, fmt.Errorf("tier-2 site: %w", err)
		}
		info.Tier2, info.Tier2URL = t2, t2.URL()+"/"
	}
	data, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(opt.DataDir, "demo.json"), data, 0o600); err != nil {
		return a, sm, info, err
	}
	return a, sm, info, nil
}

// seed creates the demo's organisations, systems, cameras and users once;
// on later starts it only refreshes the camera URLs (the simulator's
// password is new each run) and reads the saved passwords.
func seed(ctx context.Context, a *app.App, sm *sim.Sim, dataDir string) (Info, error) {
	sys := registry.Actor{UserID: "system", Username: "demo-seed", Remote: "local"}
	info := Info{Users: map[string]string{}}
	pwPath := filepath.Join(dataDir, "demo-passwords.json")
	saved := map[string]string{}
	if data, err := os.ReadFile(pwPath); err == nil {
		_ = json.Unmarshal(data, &saved)
	}
	for _, o := range orgs {
		if _, err := a.Registry.GetOrganisation(ctx, o.ID); errors.Is(err, registry.ErrNotFound) {
			if _, err := a.Registry.CreateOrganisation(ctx, sys, o); err != nil {
				return info, fmt.Errorf("organisation %s: %w", o.ID, err)
			}
		}
	}
	for _, s := range systems {
		s.SiteID = a.Cfg.Site.ID
		if _, err := a.Registry.GetSystem(ctx, s.ID); errors.Is(err, registry.ErrNotFound) {
			if _, err := a.Registry.CreateSystem(ctx, sys, s); err != nil {
				return info, fmt.Errorf("system %s: %w", s.ID, err)
			}
		}
	}
	for _, c := range cameras {
		in := c.in
		in.MainURL = sm.URL(in.ID, "main")
		in.SubURL = sm.URL(in.ID, "sub")
		in.Transport = "tcp"
		info.Cameras = append(info.Cameras, in.ID)
		cur, err := a.Registry.GetCamera(ctx, in.ID)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			if _, err := a.Registry.CreateCamera(ctx, sys, in); err != nil {
				return info, fmt.Errorf("camera %s: %w", in.ID, err)
			}
		case err != nil:
			return info, err
		default:
			if _, err := a.Registry.UpdateCamera(ctx, sys, in.ID, cur.Version, in); err != nil {
				return info, fmt.Errorf("camera %s: %w", in.ID, err)
			}
		}
	}
	sysAuth := auth.Actor{UserID: "system", Username: "demo-seed", Remote: "local"}
	for _, u := range users {
		pw, ok := saved[u.username]
		if _, err := a.Auth.GetByUsername(ctx, u.username); err == nil && ok {
			if u.username == "admin" {
				info.AdminUser, info.AdminPassword = u.username, pw
			} else {
				info.Users[u.username] = pw
			}
			continue
		}
		initial, final := auth.GeneratePassword(14), auth.GeneratePassword(14)
		if existing, err := a.Auth.GetByUsername(ctx, u.username); err == nil {
			if err := a.Auth.SetPassword(ctx, sysAuth, existing.ID, initial); err != nil {
				return info, err
			}
		} else if _, err := a.Auth.CreateUser(ctx, sysAuth, auth.NewUser{Username: u.username, DisplayName: u.display,
			OrgID: u.org, Roles: u.roles, InitialPassword: initial}); err != nil {
			return info, fmt.Errorf("user %s: %w", u.username, err)
		}
		// The regulation forces a change of the initial password; the demo
		// does it once so the printed password works straight away.
		res, err := a.Auth.Login(ctx, u.username, initial, "", "local")
		if err != nil {
			return info, fmt.Errorf("user %s first login: %w", u.username, err)
		}
		if err := a.Auth.ChangePassword(ctx, res.Principal, initial, final, "local"); err != nil {
			return info, fmt.Errorf("user %s password: %w", u.username, err)
		}
		saved[u.username] = final
		if u.username == "admin" {
			info.AdminUser, info.AdminPassword = u.username, final
		} else {
			info.Users[u.username] = final
		}
	}
	data, _ := json.Marshal(saved)
	if err := os.WriteFile(pwPath, data, 0o600); err != nil {
		return info, err
	}
	return info, nil
}
