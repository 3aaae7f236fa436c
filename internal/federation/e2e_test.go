package federation_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/federation"
	"github.com/vigil-vms/vigil/internal/federation/fedtest"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

var seed = registry.Actor{UserID: "system", Username: "test-seed", Remote: "local"}

// waitFor polls cond until it holds; the deadline only keeps a broken test
// from hanging.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitForWhy(t, what, cond, nil)
}

// waitForWhy is waitFor that says, when it gives up, what state it saw
// (why), so a stuck wait tells where it stuck.
func waitForWhy(t testing.TB, what string, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			if why != nil {
				t.Fatalf("timed out waiting for %s: %s", what, why())
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startTier1(t testing.TB, db *store.DB, proxy *fedtest.LinkProxy) *apptest.Site {
	t.Helper()
	s := apptest.Start(t, db, apptest.Options{Mutate: func(c *config.Config) {
		c.Federation.LeafListen = "127.0.0.1:0"
		c.Federation.LeafURL = "nats-leaf://" + proxy.Addr()
		c.Federation.LinkDownAlert = time.Second
		c.Federation.StatusInterval = 200 * time.Millisecond
	}})
	proxy.SetTarget(s.App.Federation.LeafAddr())
	return s
}

func enrollToken(t testing.TB, c *apptest.Client, site string, systems ...string) string {
	t.Helper()
	var e federation.Enrollment
	if st := c.Do("POST", "/api/v1/federation/enrollments", map[string]any{"site_id": site, "systems": systems}, &e); st != 201 {
		t.Fatalf("enrollment for %s: status %d", site, st)
	}
	return e.Token
}

func startLower(t testing.TB, db *store.DB, id string, tier int, upstream, token string) *apptest.Site {
	t.Helper()
	return apptest.Start(t, db, apptest.Options{Mutate: func(c *config.Config) {
		c.Site.ID, c.Site.Name, c.Site.Tier = id, "Site "+id, tier
		c.Federation.Upstream, c.Federation.EnrollToken = upstream, token
		c.Federation.StatusInterval = 200 * time.Millisecond
		// Short segments, so HLS VOD (finished segments only) has some
		// within the test.
		c.Recording.SegmentLength = 10 * time.Second
	}})
}

// seedLower creates the lower site's own organisations and system.
func seedLower(t testing.TB, s *apptest.Site, system string, tier int) {
	t.Helper()
	ctx, r := context.Background(), s.App.Registry
	for _, o := range []registry.Organisation{
		{ID: "ubnd-xa", Name: "UBND xã", Kind: registry.OrgCommune, Functions: []string{"urban_order"}},
		{ID: "vnpt", Name: "VNPT", Kind: registry.OrgOperatingUnit},
	} {
		if _, err := r.CreateOrganisation(ctx, seed, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.CreateSystem(ctx, seed, registry.System{ID: system, Name: "Hệ thống " + system, Tier: tier,
		ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: s.App.Cfg.Site.ID}); err != nil {
		t.Fatal(err)
	}
}

func addCamera(t testing.TB, s *apptest.Site, system, id string, classified bool) {
	t.Helper()
	_, err := s.App.Registry.CreateCamera(context.Background(), seed, registry.CameraInput{ID: id, SystemID: system, Name: "Camera " + id,
		Kinds: []string{"security"}, Purposes: []string{"urban_order"}, Area: "public_other", Lat: 21.4, Lon: 103.1,
		Push: true, Classified: classified})
	if err != nil {
		t.Fatal(err)
	}
}

func count(t testing.TB, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Q().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func site(t testing.TB, s *apptest.Site, id string) federation.Site {
	t.Helper()
	x, err := s.App.Federation.GetSite(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func auditHead(t testing.TB, db *store.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Q().QueryRow(context.Background(), `SELECT seq FROM audit_head WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkLeafConfined shows that lower site a, with its own valid
// credentials, cannot drive tier 1's JetStream API in its account (deleting
// or purging what tier 1 sourced from it is refused at the leaf), and that
// what it may publish there is an allow-list of answers: a reply subject
// gets through (the control), any other subject tier 1 might listen on does
// not.
func checkLeafConfined(t *testing.T, t1, a *apptest.Site) {
	t.Helper()
	ctx := context.Background()
	held, err := t1.App.Federation.InStreamMessagesForTest(ctx, "site-a")
	if err != nil || held == 0 {
		t.Fatalf("tier 1 holds %d messages of site A: %v", held, err)
	}
	for _, subj := range []string{"$JS.test-site.API.STREAM.DELETE.VIGIL_IN", "$JS.test-site.API.STREAM.PURGE.VIGIL_IN", "$JS.API.STREAM.DELETE.VIGIL_IN"} {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		reply, err := a.App.Federation.UpstreamRequestForTest(rctx, subj, nil)
		cancel()
		if err == nil && strings.Contains(string(reply), `"success":true`) {
			t.Fatalf("%s from site A succeeded: %s", subj, reply)
		}
	}
	if n, err := t1.App.Federation.InStreamMessagesForTest(ctx, "site-a"); err != nil || n < held {
		t.Fatalf("site A changed tier 1's stream: %d messages (was %d), %v", n, held, err)
	}
	inbox, err := t1.App.Federation.ListenSiteForTest("site-a", "_INBOX.probe")
	if err != nil {
		t.Fatal(err)
	}
	other, err := t1.App.Federation.ListenSiteForTest("site-a", "vigil.probe")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a reply from site A reaches tier 1", func() bool {
		if err := a.App.Federation.PublishUpstreamForTest("vigil.probe", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := a.App.Federation.PublishUpstreamForTest("_INBOX.probe", []byte("x")); err != nil {
			t.Fatal(err)
		}
		return inbox() > 0
	})
	if other() != 0 {
		t.Fatalf("site A published %d messages on a subject outside its allow-list", other())
	}
}

// TestFederation runs tier 1 (PostgreSQL) and two lower sites (SQLite and
// PostgreSQL), each with its own data folder, database and embedded NATS,
// linked by leaf connections through a proxy that the test cuts.
func TestFederation(t *testing.T) {
	ctx := context.Background()
	proxy := fedtest.NewLinkProxy(t)
	t1 := startTier1(t, storetest.Postgres(t), proxy)
	t1.SeedWorld(nil)
	for _, sy := range []registry.System{
		{ID: "xa-a", Name: "Camera xã A", Tier: 3, ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-a"},
		{ID: "huyen-b", Name: "Camera huyện B", Tier: 2, ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-b"},
	} {
		if _, err := t1.App.Registry.CreateSystem(ctx, seed, sy); err != nil {
			t.Fatal(err)
		}
	}
	adminUser := t1.User("admin", "so-khcn", "admin")
	admin := t1.Login("admin")

	// Enrollment: one-time tokens; a second use is refused.
	tokA := enrollToken(t, admin, "site-a", "xa-a")
	tokB := enrollToken(t, admin, "site-b", "huyen-b")
	a := startLower(t, storetest.SQLite(t), "site-a", 3, t1.Base, tokA)
	b := startLower(t, storetest.Postgres(t), "site-b", 2, t1.Base, tokB)
	if st := t1.Anonymous().Do("POST", "/api/v1/federation/enroll", federation.EnrollRequest{Token: tokA, SiteID: "site-a"}, nil); st != 403 {
		t.Fatalf("second use of a token: status %d, want 403", st)
	}

	seedLower(t, a, "xa-a", 3)
	seedLower(t, b, "huyen-b", 2)
	addCamera(t, a, "xa-a", "cam-a1", false)
	addCamera(t, a, "xa-a", "cam-a2", false)
	addCamera(t, a, "xa-a", "cam-a-secret", true)
	// cam-b1 is a simulated camera that site B pulls: its online status
	// goes up and counts for the 5-day rule at tier 1. It has a sub stream
	// (640x360), which tier 1 can have relayed on its own.
	sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam-b1"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	if _, err := b.App.Registry.CreateCamera(ctx, seed, registry.CameraInput{ID: "cam-b1", SystemID: "huyen-b", Name: "Camera cam-b1",
		Kinds: []string{"security"}, Purposes: []string{"urban_order"}, Area: "road", Lat: 21.4, Lon: 103.1,
		MainURL: sm.URL("cam-b1", "main"), SubURL: sm.URL("cam-b1", "sub")}); err != nil {
		t.Fatal(err)
	}
	b.App.ReloadMedia(ctx)
	a.App.Federation.Kick()
	b.App.Federation.Kick()

	has := func(id string) bool { _, err := t1.App.Registry.GetCamera(ctx, id); return err == nil }
	waitFor(t, "inventory at tier 1", func() bool { return has("cam-a1") && has("cam-a2") && has("cam-b1") })
	waitFor(t, "links up", func() bool { return site(t, t1, "site-a").LinkState == "up" && site(t, t1, "site-b").LinkState == "up" })
	if has("cam-a-secret") {
		t.Fatal("a classified camera reached tier 1")
	}

	// Federated cameras are read-only at tier 1.
	var cam registry.Camera
	admin.Do("GET", "/api/v1/cameras/cam-a1", nil, &cam)
	body := map[string]any{"system_id": "xa-a", "name": "sửa ở cấp 1", "kinds": cam.Kinds, "purposes": cam.Purposes, "area": cam.Area,
		"lat": cam.Lat, "lon": cam.Lon, "push": true}
	if st := admin.Do("PUT", fmt.Sprintf("/api/v1/cameras/cam-a1?version=%d", cam.Version), body, nil); st != 409 {
		t.Fatalf("edit of a federated camera at tier 1: status %d, want 409", st)
	}

	// A lower site cannot publish for another site's systems, even with its
	// own valid credentials: a camera in site B's system and a message
	// claiming to be site B are both refused.
	fake := federation.CameraRecord{CameraInput: registry.CameraInput{ID: "cam-fake", SystemID: "huyen-b", Name: "giả", Kinds: []string{"security"},
		Purposes: []string{"urban_order"}, Area: "public_other", Lat: 21, Lon: 103}, ChangedAt: 1, Version: 1}
	if err := a.App.Federation.PublishRawForTest(ctx, federation.Envelope{Kind: federation.KindCamera, Camera: &fake}); err != nil {
		t.Fatal(err)
	}
	steal := federation.CameraRecord{CameraInput: registry.CameraInput{ID: "cam-b1", SystemID: "huyen-b", Name: "chiếm", Kinds: []string{"security"},
		Purposes: []string{"urban_order"}, Area: "public_other", Lat: 21, Lon: 103}, ChangedAt: 1, Version: 9}
	if err := a.App.Federation.PublishRawForTest(ctx, federation.Envelope{Site: "site-b", Kind: federation.KindCamera, Camera: &steal}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "forged messages refused", func() bool { return site(t, t1, "site-a").Rejected >= 2 })
	if has("cam-fake") {
		t.Fatal("site A created a camera in site B's system")
	}
	if c, _ := t1.App.Registry.GetCamera(ctx, "cam-b1"); c.Name != "Camera cam-b1" {
		t.Fatalf("site A changed site B's camera: %q", c.Name)
	}

	// Nor drive tier 1's JetStream API in its own account, nor publish
	// outside its allow-list.
	checkLeafConfined(t, t1, a)

	// Cut the link. Tier 1 sees it down and opens an alert; meanwhile the
	// lower sites keep changing.
	proxy.Cut()
	waitFor(t, "link down at tier 1", func() bool { return site(t, t1, "site-a").LinkState == "down" })
	waitFor(t, "link-down alert", func() bool {
		als, _ := t1.App.Federation.Alerts(ctx, "site-a", true)
		return len(als) == 1
	})
	linkIncidents := func(state string) int {
		is, err := t1.App.Health.List(ctx, health.Filter{Category: health.CatLinkDown, State: state})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, i := range is {
			if i.Object == "link/site-a" {
				n++
			}
		}
		return n
	}
	waitFor(t, "link-down incident", func() bool { return linkIncidents("active") == 1 })
	const offline = 30
	for i := range offline {
		addCamera(t, a, "xa-a", fmt.Sprintf("cam-a-off-%02d", i), false)
	}
	c1, _ := a.App.Registry.GetCamera(ctx, "cam-a1")
	in := registry.CameraInput{SystemID: c1.SystemID, Name: "Cổng trụ sở (đổi)", Kinds: c1.Kinds, Purposes: c1.Purposes,
		Area: c1.Area, Lat: c1.Lat + 0.001, Lon: c1.Lon, Push: true}
	if _, err := a.App.Registry.UpdateCamera(ctx, seed, "cam-a1", c1.Version, in); err != nil {
		t.Fatal(err)
	}
	if err := a.App.Registry.DeleteCamera(ctx, seed, "cam-a2"); err != nil {
		t.Fatal(err)
	}
	a.User("op-a", "ubnd-xa", "operator") // more audit entries: user creation, logins
	a.Login("op-a")
	addCamera(t, b, "huyen-b", "cam-b2", false)
	if has("cam-a-off-00") {
		t.Fatal("a change crossed a cut link")
	}

	// Restore: tier 1 catches up, in order, with nothing lost or doubled.
	proxy.Restore()
	a.App.Federation.Kick()
	headA := auditHead(t, a.App.DB)
	waitForWhy(t, "catch-up", func() bool {
		return site(t, t1, "site-a").AuditSeq >= headA && has("cam-b2")
	}, func() string {
		stA, errA := a.App.Federation.Stats(ctx)
		stB, errB := b.App.Federation.Stats(ctx)
		return fmt.Sprintf("site A head %d, at tier 1 %+v, shipped %+v (%v); site B shipped %+v (%v), tier 1 %+v, cam-b2 there %v",
			headA, site(t, t1, "site-a"), stA, errA, stB, errB, site(t, t1, "site-b"), has("cam-b2"))
	})
	waitFor(t, "alert closed", func() bool {
		als, _ := t1.App.Federation.Alerts(ctx, "site-a", true)
		return len(als) == 0 && site(t, t1, "site-a").LinkState == "up"
	})
	waitFor(t, "link-down incident resolved", func() bool {
		return linkIncidents("active") == 0 && linkIncidents(health.StateResolved) == 1
	})
	for i := range offline {
		if !has(fmt.Sprintf("cam-a-off-%02d", i)) {
			t.Fatalf("cam-a-off-%02d lost", i)
		}
	}
	if c, _ := t1.App.Registry.GetCamera(ctx, "cam-a1"); c.Name != "Cổng trụ sở (đổi)" {
		t.Fatalf("update not applied: %q", c.Name)
	}
	if has("cam-a2") {
		t.Fatal("delete not applied")
	}
	// Exactly once: one create per camera in tier 1's log, one shipped row
	// per lower audit entry, and the shipped chain verifies.
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'camera.federated_create' AND object LIKE 'camera/cam-a-off-%'`); n != offline {
		t.Fatalf("%d federated creates at tier 1, want %d", n, offline)
	}
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM federation_audit WHERE site_id = 'site-a'`); int64(n) != site(t, t1, "site-a").AuditSeq {
		t.Fatalf("%d shipped audit rows, want %d", n, site(t, t1, "site-a").AuditSeq)
	}
	// Tier 1 asks site A over the link (request/reply; it never dials in).
	var ask federation.AskReply
	if st := admin.Do("GET", "/api/v1/federation/sites/site-a/remote-status", nil, &ask); st != 200 || !ask.OK ||
		ask.Stats == nil || ask.Stats.AuditSeq < headA || ask.Cameras != offline+1 {
		t.Fatalf("remote status of site A: %d %+v %+v", st, ask, ask.Stats)
	}
	var rep federation.AuditReport
	if st := admin.Do("GET", "/api/v1/federation/sites/site-a/audit/verify", nil, &rep); st != 200 || !rep.OK || rep.LastSeq < headA {
		t.Fatalf("shipped audit of site A: status %d, %+v", st, rep)
	}
	// The lower site's own log says the same thing.
	if r, err := audit.Verify(ctx, a.App.DB, a.App.Audit.PublicKey()); err != nil || !r.OK {
		t.Fatalf("site A audit: %v %+v", err, r)
	}
	var hist struct {
		Events []federation.LinkEvent `json:"events"`
		Alerts []federation.Alert     `json:"alerts"`
	}
	admin.Do("GET", "/api/v1/federation/sites/site-a", nil, &hist)
	states := []string{}
	for _, e := range hist.Events {
		states = append(states, e.State)
	}
	if got := strings.Join(states, ","); !strings.HasPrefix(got, "up,down,up") || len(hist.Alerts) != 1 || hist.Alerts[0].ClosedAt.IsZero() {
		t.Fatalf("link history %s, alerts %+v", got, hist.Alerts)
	}

	// The 5-day rule: every federated camera has a deadline; cam-b1 met
	// it when tier 1 first received its online status.
	var dl []federation.Deadline
	waitFor(t, "cam-b1 connected", func() bool {
		dl = nil
		if st := admin.Do("GET", "/api/v1/federation/overdue?all=true", nil, &dl); st != 200 {
			t.Fatalf("overdue: status %d", st)
		}
		for _, d := range dl {
			if d.CameraID == "cam-b1" {
				return !d.ConnectedAt.IsZero() && !d.Overdue
			}
		}
		return false
	})
	if len(dl) < offline {
		t.Fatalf("%d deadlines", len(dl))
	}
	var fc struct {
		Items []federation.FedCamera `json:"items"`
	}
	admin.Do("GET", "/api/v1/federation/cameras?site=site-b", nil, &fc)
	if len(fc.Items) != 2 || !fc.Items[0].Online || fc.Items[0].LinkState != "up" {
		t.Fatalf("federated cameras of site B: %+v", fc.Items)
	}
	if c, _ := t1.App.Registry.GetCamera(ctx, "cam-b1"); c.FirstConnectedAt.IsZero() {
		t.Fatal("first connection of cam-b1 not recorded at tier 1")
	}

	// Video on demand across tiers: a tier-1 viewer opens cam-b1; tier 1
	// asks site B, which pushes the camera to tier 1's push-in, and tier 1
	// re-streams it like a local camera.
	vodAcrossTiers(t, t1, b, admin)
	// Playback and export of site B's recording from tier 1.
	footageAcrossTiers(t, t1, b, admin, adminUser.ID)

	// Revoking site B cuts it off.
	if st := admin.Do("DELETE", "/api/v1/federation/sites/site-b", nil, nil); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	waitFor(t, "site B cut off", func() bool { return !b.App.Federation.LinkUp() })
	if x := site(t, t1, "site-b"); x.LinkState != "revoked" {
		t.Fatalf("site B state %q", x.LinkState)
	}
}

// vodAcrossTiers plays lower site b's camera cam-b1 at tier 1 through tier
// 1's RTSP re-stream (ffprobe: codec and size), its sub stream first (site B
// relays the sub alone, 640x360) then its main stream (1280x720), then
// checks that b's relays stop once nobody watches at tier 1.
func vodAcrossTiers(t *testing.T, t1, b *apptest.Site, viewer *apptest.Client) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatal("ffprobe is required (VIGIL_REQUIRE_TOOLS=1) but not on PATH")
		}
		t.Log("!!! SKIPPING video on demand across tiers: ffprobe not on PATH")
		return
	}
	ctx := context.Background()
	if b.App.Relaying("cam-b1", media.Main) || b.App.Relaying("cam-b1", media.Sub) {
		t.Fatal("site B relays cam-b1 before anyone watches at tier 1")
	}
	// Tier 1 knows cam-b1 has a sub stream: its hub has a pushed sub.
	waitFor(t, "cam-b1's sub stream at tier 1", func() bool {
		st, ok := t1.App.Hub.State("cam-b1")
		return ok && len(st) == 2 && st[1].Variant == media.Sub
	})
	probe := func(variant string) string {
		t.Helper()
		var tok struct {
			RTSPURL string `json:"rtsp_url"`
		}
		if st := viewer.Do("POST", "/api/v1/cameras/cam-b1/stream-token", map[string]string{"variant": variant}, &tok); st != 200 {
			t.Fatalf("stream token for cam-b1 (%s) at tier 1: status %d", variant, st)
		}
		if !strings.HasPrefix(tok.RTSPURL, "rtsp://"+t1.App.Hub.RTSPAddr()+"/") || !strings.Contains(tok.RTSPURL, "/cam-b1/"+variant) {
			t.Fatalf("re-stream URL %q is not tier 1's %s", tok.RTSPURL, variant)
		}
		var out string
		waitFor(t, "cam-b1 "+variant+" playing at tier 1", func() bool {
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			o, err := exec.CommandContext(pctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
				"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", tok.RTSPURL).CombinedOutput()
			out = strings.TrimSpace(string(o))
			return err == nil
		})
		return out
	}
	// The sub stream, as a wall tile asks for it: site B relays its sub
	// stream, and not its main stream, which nobody watches.
	if out := probe("sub"); !strings.Contains(out, "h264,640,360") {
		t.Fatalf("ffprobe of cam-b1's sub at tier 1: %q", out)
	}
	if !b.App.Relaying("cam-b1", media.Sub) {
		t.Fatal("site B does not relay cam-b1's sub while it is watched at tier 1")
	}
	if b.App.Relaying("cam-b1", media.Main) {
		t.Fatal("site B relays cam-b1's main stream although only its sub is watched")
	}
	// The main stream is still the full one.
	if out := probe("main"); !strings.Contains(out, "h264,1280,720") {
		t.Fatalf("ffprobe of cam-b1 at tier 1: %q", out)
	}
	// Each push was admitted with the secret tier 1 made for site B and
	// that variant.
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'push.start' AND object = 'camera/cam-b1' AND actor = 'site:site-b'`); n < 2 {
		t.Fatalf("%d push.start entries by site B at tier 1, want main and sub", n)
	}
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'push.start' AND object = 'camera/cam-b1' AND actor = 'site:site-b' AND details LIKE '%"variant":"sub"%'`); n < 1 {
		t.Fatalf("%d push.start entries of cam-b1's sub by site B at tier 1", n)
	}
	// Nobody watches any more: after the linger tier 1 releases each
	// variant and site B's relays stop.
	waitFor(t, "site B's sub relay stopped", func() bool { return !b.App.Relaying("cam-b1", media.Sub) })
	waitFor(t, "site B's main relay stopped", func() bool { return !b.App.Relaying("cam-b1", media.Main) })
	waitFor(t, "pushes ended at tier 1", func() bool {
		return count(t, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'push.end' AND object = 'camera/cam-b1'`) >= 2
	})
}
