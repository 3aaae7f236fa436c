package onvif_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/onvif"
	"github.com/vigil-vms/vigil/internal/sim"
)

func startDevice(t *testing.T, spec sim.OnvifSpec) *sim.OnvifDevice {
	t.Helper()
	if spec.MainURL == "" {
		spec.MainURL, spec.SubURL = "rtsp://127.0.0.1:8554/cam1/main", "rtsp://127.0.0.1:8554/cam1/sub"
	}
	d, err := sim.StartOnvif(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestDiscoverFindsDevice(t *testing.T) {
	d := startDevice(t, sim.OnvifSpec{Name: "Ngã tư Thanh Bình", Model: "SIM-PTZ", User: "admin", Pass: "pw"})
	ctx := context.Background()
	found, err := onvif.Discover(ctx, d.DiscoveryAddr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].XAddrs[0] != d.XAddr() || found[0].Name != "Ngã tư Thanh Bình" || found[0].Hardware != "SIM-PTZ" {
		t.Fatalf("discovered %+v, want the device at %s", found, d.XAddr())
	}
}

func TestProfilesSkewedClockAndDigest(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec sim.OnvifSpec
	}{
		{"in-sync", sim.OnvifSpec{User: "admin", Pass: "pa:ss\"w", PTZ: true}},
		{"skewed-clock", sim.OnvifSpec{User: "admin", Pass: "pw", Skew: -47 * time.Minute}},
		{"digest-only", sim.OnvifSpec{User: "admin", Pass: "pw", DigestOnly: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, tc.spec)
			ctx := context.Background()
			c := &onvif.Client{XAddr: d.XAddr(), Username: tc.spec.User, Password: tc.spec.Pass}
			if _, err := c.SyncClock(ctx); err != nil {
				t.Fatal(err)
			}
			if off := c.ClockOffset(); (off - tc.spec.Skew).Abs() > 2*time.Second {
				t.Fatalf("offset %s, device skew %s", off, tc.spec.Skew)
			}
			info, err := c.DeviceInformation(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.Manufacturer != "Vigil Sim" {
				t.Fatalf("info %+v", info)
			}
			if _, err := c.Capabilities(ctx); err != nil {
				t.Fatal(err)
			}
			ps, err := c.Profiles(ctx)
			if err != nil {
				t.Fatal(err)
			}
			main, sub, ok := onvif.MainAndSub(ps)
			if !ok || main.Token != "prof_main" || sub.Token != "prof_sub" {
				t.Fatalf("main %+v sub %+v", main, sub)
			}
			uri, err := c.StreamURI(ctx, main.Token)
			if err != nil || uri != "rtsp://127.0.0.1:8554/cam1/main" {
				t.Fatalf("main uri %q %v", uri, err)
			}
			if _, err := c.SnapshotURI(ctx, sub.Token); err != nil {
				t.Fatal(err)
			}
			st := d.Stats()
			if tc.spec.DigestOnly != (st.DigestOK > 0) || tc.spec.DigestOnly != (st.WSSEOK == 0) || st.Refused != 0 {
				t.Fatalf("auth stats %+v", st)
			}
			if c.UsesDigest() != tc.spec.DigestOnly {
				t.Fatalf("UsesDigest = %v", c.UsesDigest())
			}
		})
	}
}

func TestSkewWithoutSyncIsRefused(t *testing.T) {
	d := startDevice(t, sim.OnvifSpec{User: "admin", Pass: "pw", Skew: time.Hour})
	c := &onvif.Client{XAddr: d.XAddr(), Username: "admin", Password: "pw"}
	if _, err := c.DeviceInformation(context.Background()); !errors.Is(err, onvif.ErrUnauthorized) {
		t.Fatalf("unsynchronised token on a skewed device: err %v, want ErrUnauthorized", err)
	}
	bad := &onvif.Client{XAddr: d.XAddr(), Username: "admin", Password: "wrong"}
	_, _ = bad.SyncClock(context.Background())
	if _, err := bad.DeviceInformation(context.Background()); !errors.Is(err, onvif.ErrUnauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
	dd := startDevice(t, sim.OnvifSpec{User: "admin", Pass: "pw", DigestOnly: true})
	bad = &onvif.Client{XAddr: dd.XAddr(), Username: "admin", Password: "wrong"}
	if _, err := bad.DeviceInformation(context.Background()); !errors.Is(err, onvif.ErrUnauthorized) {
		t.Fatalf("wrong digest password: %v", err)
	}
}

func TestPTZAndPullPoint(t *testing.T) {
	d := startDevice(t, sim.OnvifSpec{User: "admin", Pass: "pw", PTZ: true, Skew: 10 * time.Minute})
	ctx := context.Background()
	c := &onvif.Client{XAddr: d.XAddr(), Username: "admin", Password: "pw"}
	if _, err := c.SyncClock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Capabilities(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ContinuousMove(ctx, "prof_main", 0.5, -0.25, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx, "prof_main"); err != nil {
		t.Fatal(err)
	}
	ps, err := c.Presets(ctx, "prof_main")
	if err != nil || len(ps) != 2 || ps[0].Name != "Cổng chính" {
		t.Fatalf("presets %+v %v", ps, err)
	}
	if err := c.GotoPreset(ctx, "prof_main", "2"); err != nil {
		t.Fatal(err)
	}
	var f *onvif.Fault
	if err := c.GotoPreset(ctx, "prof_main", "99"); !errors.As(err, &f) {
		t.Fatalf("unknown preset: %v", err)
	}
	log := d.PTZLog()
	if len(log) != 3 || log[0].Pan != "0.5" || log[0].Tilt != "-0.25" || log[1].Op != "Stop" || log[2].Preset != "2" {
		t.Fatalf("ptz log %+v", log)
	}

	sub, err := c.CreatePullPoint(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	d.Emit("tns1:RuleEngine/LineDetector/Crossed", at, map[string]string{"Rule": "Vạch dừng"}, map[string]string{"ObjectId": "7"})
	ns, err := c.PullMessages(ctx, sub, time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Topic != "tns1:RuleEngine/LineDetector/Crossed" || !ns[0].UtcTime.Equal(at) || ns[0].Source["Rule"] != "Vạch dừng" {
		t.Fatalf("notifications %+v", ns)
	}
	if err := c.Unsubscribe(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if d.Subscriptions() != 0 {
		t.Fatal("subscription left")
	}
}
