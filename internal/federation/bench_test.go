package federation_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/federation"
	"github.com/vigil-vms/vigil/internal/federation/fedtest"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/secrets"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func benchN(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchF(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}

// benchWait is waitFor with a deadline fit for large volumes on a loaded
// machine (it only keeps a broken run from hanging; nothing is asserted on
// the time taken).
func benchWait(b testing.TB, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(15 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchLower is a lower site reduced to what shipping upward involves: its
// SQLite database, audit log, registry and federation room, wired as
// app.Open wires them, except that camera status comes from the benchmark
// through federation.Deps.Online (the hook the media hub fills in `vigil
// serve`) instead of from live streams: 5,000 real RTSP sources are not
// what is measured here.
type benchLower struct {
	DB       *store.DB
	Audit    *audit.Log
	Registry *registry.Service
	Fed      *federation.Service

	mu     sync.Mutex
	online map[string]bool
}

// Online is the lower site's Deps.Online: camera id → online, as a media
// hub would report it.
func (l *benchLower) Online() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.online)
}

// SetOnline changes the reported status of the given cameras.
func (l *benchLower) SetOnline(ids []string, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.online == nil {
		l.online = map[string]bool{}
	}
	for _, id := range ids {
		l.online[id] = on
	}
}

func startBenchLower(b testing.TB, db *store.DB, id string, tier int, upstream, token string) *benchLower {
	b.Helper()
	cfg := config.Default()
	cfg.Site.ID, cfg.Site.Name, cfg.Site.Tier = id, "Site "+id, tier
	cfg.DataDir = b.TempDir()
	cfg.Federation.Upstream, cfg.Federation.EnrollToken = upstream, token
	cfg.Federation.StatusInterval = 200 * time.Millisecond
	key, _, err := secrets.LoadKey(cfg.Secrets.Key, cfg.Secrets.KeyFile, cfg.DataDir)
	if err != nil {
		b.Fatal(err)
	}
	sealer, err := secrets.NewSealer(key)
	if err != nil {
		b.Fatal(err)
	}
	siteKey, keyID, err := secrets.SiteKey(sealer, cfg.DataDir)
	if err != nil {
		b.Fatal(err)
	}
	l := &benchLower{DB: db}
	l.Audit = audit.New(audit.Options{Key: siteKey, KeyID: keyID, DB: db,
		EveryEntries: int64(cfg.Audit.CheckpointEvery), EveryInterval: cfg.Audit.CheckpointInterval})
	l.Registry = registry.New(db, l.Audit, sealer)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l.Fed = federation.New(federation.Deps{Cfg: cfg, Log: log, DB: db, Audit: l.Audit, Registry: l.Registry,
		Sealer: sealer, Online: l.Online})
	if err := l.Fed.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Fed.Close)
	return l
}

func (l *benchLower) seed(b testing.TB, system string, tier int, siteID string) {
	b.Helper()
	ctx := context.Background()
	for _, o := range []registry.Organisation{
		{ID: "ubnd-xa", Name: "UBND xã", Kind: registry.OrgCommune, Functions: []string{"urban_order"}},
		{ID: "vnpt", Name: "VNPT", Kind: registry.OrgOperatingUnit},
	} {
		if _, err := l.Registry.CreateOrganisation(ctx, seed, o); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := l.Registry.CreateSystem(ctx, seed, registry.System{ID: system, Name: "Hệ thống " + system, Tier: tier,
		ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: siteID}); err != nil {
		b.Fatal(err)
	}
}

// stats is the lower site's outbox position.
func (l *benchLower) stats(b testing.TB) federation.ShipStats {
	b.Helper()
	st, err := l.Fed.Stats(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// waitShipped waits until the shipper has put every audit entry written so
// far into the outbox (the local stream), and at least wantOut messages.
func (l *benchLower) waitShipped(b testing.TB, what string, wantOut int64) federation.ShipStats {
	b.Helper()
	l.Fed.Kick()
	var st federation.ShipStats
	benchWait(b, what, func() bool {
		st = l.stats(b)
		return st.AuditSeq >= auditHead(b, l.DB) && st.OutSeq >= wantOut
	})
	return st
}

func importCameras(b *testing.B, r *registry.Service, system, prefix string, n int) {
	var buf bytes.Buffer
	buf.WriteString("id,system_id,name,kinds,purposes,area,lat,lon,push\n")
	for i := range n {
		fmt.Fprintf(&buf, "%s-%05d,%s,Camera %d,security,urban_order,road,%.5f,%.5f,true\n", prefix, i, system, i,
			21.3+float64(i%100)/1000, 103.0+float64(i/100)/1000)
	}
	if _, err := r.ImportCameras(context.Background(), seed, &buf, registry.ImportOptions{MaxRows: n}); err != nil {
		b.Fatal(err)
	}
}

func camIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("cam-%05d", i)
	}
	return ids
}

// An hour of a busy tier-2 site while its link is cut, per 5,000 cameras
// (status and camera edits scale with FED_BENCH_CAMERAS, people's activity
// does not). Generous on purpose: a district or provincial centre whose
// cameras sit on 4G and rural fibre, in a bad hour, with a full shift.
const (
	// Cameras that drop and come back once: 2 status messages each, and 2
	// audit entries (the automatic camera_offline incident opened and
	// resolved).
	hourFlapShare = 0.20
	// Cameras edited (a maintenance round re-siting and renaming them):
	// the camera's shared state and its audit entry each.
	hourEditShare = 0.10
	// Operators on shift, each logging in and out once, opening
	// hourLiveViews live views (live.start and live.end entries) and
	// hourPlaybacks playbacks; one export per hourExportEvery operators.
	hourOperators   = 50
	hourLiveViews   = 60
	hourPlaybacks   = 6
	hourExportEvery = 2
)

// hourOfPeople is the audit log of hourOperators operators over one hour:
// a login and a logout each, their live views, playbacks and exports.
func hourOfPeople(cams []string) []audit.Entry {
	var es []audit.Entry
	add := func(op int, action, object string, details map[string]any) {
		es = append(es, audit.Entry{ActorID: fmt.Sprintf("u-op-%02d", op), Actor: fmt.Sprintf("op-%02d", op), Org: "cong-an",
			Action: action, Object: object, Outcome: audit.OK, Details: details, Remote: fmt.Sprintf("10.20.0.%d", 10+op)})
	}
	k := 0
	cam := func() string { k++; return "camera/" + cams[(k*7919)%len(cams)] }
	for op := range hourOperators {
		add(op, "auth.login", fmt.Sprintf("user/u-op-%02d", op), nil)
		for range hourLiveViews {
			c := cam()
			add(op, "live.start", c, map[string]any{"variant": "sub", "protocol": "webrtc"})
			add(op, "live.end", c, map[string]any{"variant": "sub", "seconds": 57})
		}
		for range hourPlaybacks {
			add(op, "playback.start", cam(), map[string]any{"from": "2026-11-27T08:00:00Z", "to": "2026-11-27T08:15:00Z"})
		}
		if op%hourExportEvery == 0 {
			add(op, "playback.export", cam(), map[string]any{"from": "2026-11-27T08:00:00Z", "to": "2026-11-27T08:05:00Z", "reason": "vụ việc"})
		}
		add(op, "auth.logout", fmt.Sprintf("user/u-op-%02d", op), nil)
	}
	return es
}

func incidentEntry(action, camera string, n int) audit.Entry {
	return audit.Entry{ActorID: "system", Actor: "health", Action: action, Object: fmt.Sprintf("incident/inc-%06d", n),
		Outcome: audit.OK, Details: map[string]any{"category": "camera_offline", "object": "camera/" + camera}}
}

// BenchmarkFederation measures the three figures issue 5 asks for, on
// loopback, tier 1 on PostgreSQL (SQLite when FED_BENCH_TIER1=sqlite) and
// one lower site on SQLite, each with its own embedded NATS, the leaf link
// through a proxy the benchmark cuts:
//
//  1. converge: FED_BENCH_CAMERAS (default 5,000) cameras imported at the
//     lower site (CSV) with the link up, until tier 1's registry holds them
//     all (and then until tier 1 applied every message: sync_all_s).
//  2. status: camera online/offline changes at the lower site (reported
//     through Deps.Online, as the media hub does) until tier 1 applied them
//     (federation_cameras.online). After a warm-up round, every camera
//     flips FED_BENCH_STATUS_ROUNDS (default 6) times, each round as soon
//     as the lower site shipped the previous one, so shipping and applying
//     overlap: status_events/s is the sustained rate, change at the lower
//     site to applied at tier 1. status_burst_s is one more round on its
//     own: every camera going offline at once (a district-wide power cut)
//     until tier 1 shows them all offline.
//  3. catch-up: the link cut while FED_BENCH_OUTAGE_HOURS (default 1)
//     hours of a busy lower site's changes happen, then restored, until
//     tier 1 has applied everything; then checked: applied exactly once.
//     An hour, per 5,000 cameras (see the hour* constants): 20 % of the
//     cameras drop and come back (2,000 status messages; 2,000 audit
//     entries for the automatic incidents opened and resolved), 10 % are
//     edited (500 × camera state + audit entry), and 50 operators on shift
//     log in and out, open 60 live views each (start and end entries),
//     6 playbacks and one export per two operators (6,425 entries): about
//     11,400 messages. The volume is produced as fast as the site can
//     (the benchmark does not wait an hour): only the volume matters to
//     the catch-up.
//
// Run with bench/federation.sh (one iteration: -benchtime 1x).
func BenchmarkFederation(b *testing.B) {
	ctx := context.Background()
	nCams := benchN("FED_BENCH_CAMERAS", 5000)
	rounds := benchN("FED_BENCH_STATUS_ROUNDS", 6)
	hours := benchF("FED_BENCH_OUTAGE_HOURS", 1)
	var t1db *store.DB
	if os.Getenv("FED_BENCH_TIER1") == "sqlite" {
		t1db = storetest.SQLite(b)
	} else {
		t1db = storetest.Postgres(b)
	}
	proxy := fedtest.NewLinkProxy(b)
	t1 := startTier1(b, t1db, proxy)
	t1.SeedWorld(nil)
	if _, err := t1.App.Registry.CreateSystem(ctx, seed, registry.System{ID: "xa-a", Name: "Camera xã A", Tier: 2,
		ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-a"}); err != nil {
		b.Fatal(err)
	}
	t1.User("admin", "so-khcn", "admin")
	tok := enrollToken(b, t1.Login("admin"), "site-a", "xa-a")
	a := startBenchLower(b, storetest.SQLite(b), "site-a", 2, t1.Base, tok)
	a.seed(b, "xa-a", 2, "site-a")
	benchWait(b, "link up", func() bool { return site(b, t1, "site-a").LinkState == "up" })
	applied := func() int64 { return site(b, t1, "site-a").AppliedSeq }
	fedCount := func(extra string) int {
		return count(b, t1.App.DB, `SELECT COUNT(*) FROM federation_cameras WHERE site_id = 'site-a'`+extra)
	}
	ids := camIDs(nCams)
	b.ResetTimer()

	// 1. Converge.
	start := time.Now()
	importCameras(b, a.Registry, "xa-a", "cam", nCams)
	imported := time.Since(start)
	a.Fed.Kick()
	benchWait(b, "inventory at tier 1", func() bool { return fedCount("") >= nCams })
	syncT := time.Since(start)
	st := a.waitShipped(b, "inventory shipped", 0)
	benchWait(b, "inventory applied", func() bool { return applied() >= st.OutSeq })
	syncAllT := time.Since(start)
	inventoryMsgs := st.OutSeq

	// 2. Status events. Warm-up: every camera reported online for the
	// first time (tier 1 also records its first connection).
	online := func(on bool) string {
		if on {
			return ` AND online = TRUE`
		}
		return ` AND online = FALSE`
	}
	base := a.stats(b).OutSeq
	a.SetOnline(ids, true)
	a.waitShipped(b, "warm-up shipped", base+int64(nCams))
	benchWait(b, "warm-up applied", func() bool { return fedCount(online(true)) == nCams })
	base = a.stats(b).OutSeq
	t0 := time.Now()
	on := true
	for r := 1; r <= rounds; r++ {
		on = !on
		a.SetOnline(ids, on)
		a.waitShipped(b, "status round shipped", base+int64(r*nCams))
	}
	shippedT := time.Since(t0)
	want := base + int64(rounds*nCams)
	benchWait(b, "status applied", func() bool { return applied() >= want })
	statusT := time.Since(t0)
	if n := fedCount(online(on)); n != nCams {
		b.Fatalf("%d cameras in the last state at tier 1, want %d", n, nCams)
	}
	statusEvents := rounds * nCams
	// A burst on its own: every camera offline at once.
	if !on {
		a.SetOnline(ids, true)
		a.waitShipped(b, "status reset shipped", want+int64(nCams))
		benchWait(b, "status reset applied", func() bool { return fedCount(online(true)) == nCams })
	}
	out := a.stats(b).OutSeq
	t0 = time.Now()
	a.SetOnline(ids, false)
	benchWait(b, "burst applied", func() bool { return fedCount(online(false)) == nCams })
	burstT := time.Since(t0)
	a.waitShipped(b, "burst shipped", out+int64(nCams))
	a.SetOnline(ids, true)
	st = a.waitShipped(b, "status back online shipped", out+int64(2*nCams))
	benchWait(b, "status back online applied", func() bool { return applied() >= st.OutSeq })

	// 3. Catch-up after an outage of `hours` hours.
	nFlap := int(math.Round(hours * hourFlapShare * float64(nCams)))
	nEdit := int(math.Round(hours * hourEditShare * float64(nCams)))
	var people []audit.Entry
	for range int(math.Ceil(hours)) {
		people = append(people, hourOfPeople(ids)...)
	}
	people = people[:int(math.Round(hours*float64(len(people))/math.Ceil(hours)))]
	edited := map[string]string{}
	proxy.Cut()
	benchWait(b, "link down", func() bool { return !a.Fed.LinkUp() })
	before := a.stats(b)
	headBefore := auditHead(b, a.DB)
	fedUpdatesBefore := count(b, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'camera.federated_update'`)
	// Slices of five minutes, so the kinds of change interleave in the
	// outbox as they would.
	slices := 12 * int(math.Ceil(hours))
	incident := 0
	for s := range slices {
		part := func(n int) (int, int) { return n * s / slices, n * (s + 1) / slices }
		lo, hi := part(nEdit)
		for i := lo; i < hi; i++ {
			id := ids[(i*31)%nCams]
			c, err := a.Registry.GetCamera(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			name := fmt.Sprintf("Camera đổi %d", i)
			in := registry.CameraInput{SystemID: c.SystemID, Name: name, Kinds: c.Kinds, Purposes: c.Purposes,
				Area: c.Area, Lat: c.Lat + 0.0001, Lon: c.Lon, Push: true}
			if _, err := a.Registry.UpdateCamera(ctx, seed, id, c.Version, in); err != nil {
				b.Fatal(err)
			}
			edited[id] = name
		}
		lo, hi = part(len(people))
		if err := a.DB.InTx(ctx, func(tx *store.Tx) error {
			_, err := a.Audit.AppendBatch(ctx, tx, people[lo:hi])
			return err
		}); err != nil {
			b.Fatal(err)
		}
		// Status: a slice of the cameras drops (its automatic incidents
		// open) and comes back (they resolve); the shipper sees each state.
		lo, hi = part(nFlap)
		var flap []string
		for i := lo; i < hi; i++ {
			flap = append(flap, ids[i%nCams])
		}
		for _, down := range []bool{true, false} {
			var es []audit.Entry
			for _, id := range flap {
				incident++
				if down {
					es = append(es, incidentEntry("incident.open", id, incident))
				} else {
					es = append(es, incidentEntry("incident.resolve", id, incident-len(flap)))
				}
			}
			if len(es) > 0 {
				if err := a.DB.InTx(ctx, func(tx *store.Tx) error {
					_, err := a.Audit.AppendBatch(ctx, tx, es)
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
			out := a.waitShipped(b, "outage slice shipped", 0).OutSeq
			a.SetOnline(flap, !down)
			a.waitShipped(b, "outage status shipped", out+int64(len(flap)))
		}
	}
	st = a.waitShipped(b, "outbox filled", 0)
	if a.Fed.LinkUp() || site(b, t1, "site-a").AppliedSeq > before.OutSeq {
		b.Fatal("changes crossed the cut link")
	}
	hourMsgs := st.OutSeq - before.OutSeq
	hourAudit := st.AuditSeq - headBefore
	t0 = time.Now()
	proxy.Restore()
	benchWait(b, "catch-up", func() bool { return applied() >= st.OutSeq })
	catchT := time.Since(t0)
	b.StopTimer()

	// Exactly once: every outbox message applied (and no more), every
	// audit entry shipped once with the chain intact, every edit once.
	x := site(b, t1, "site-a")
	if x.AppliedSeq != st.OutSeq || x.AuditSeq != st.AuditSeq || x.AuditBroken != 0 || x.Rejected != 0 {
		b.Fatalf("tier 1 after catch-up: %+v, lower site outbox %+v", x, st)
	}
	if n := count(b, t1.App.DB, `SELECT COUNT(*) FROM federation_audit WHERE site_id = 'site-a'`); int64(n) != st.AuditSeq {
		b.Fatalf("%d shipped audit rows at tier 1, want %d", n, st.AuditSeq)
	}
	if n := count(b, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'camera.federated_update'`) - fedUpdatesBefore; n != nEdit {
		b.Fatalf("%d federated updates at tier 1, want %d", n, nEdit)
	}
	for id, name := range edited {
		if c, err := t1.App.Registry.GetCamera(ctx, id); err != nil || c.Name != name {
			b.Fatalf("camera %s at tier 1: %q, %v; want %q", id, c.Name, err, name)
		}
	}
	if n := fedCount(online(true)); n != nCams {
		b.Fatalf("%d cameras online at tier 1 after catch-up, want %d", n, nCams)
	}

	b.ReportMetric(float64(nCams), "cameras")
	b.ReportMetric(imported.Seconds(), "import_s")
	b.ReportMetric(syncT.Seconds(), "sync_s")
	b.ReportMetric(syncAllT.Seconds(), "sync_all_s")
	b.ReportMetric(float64(inventoryMsgs), "sync_msgs")
	b.ReportMetric(float64(statusEvents), "status_events")
	b.ReportMetric(statusT.Seconds(), "status_s")
	b.ReportMetric(shippedT.Seconds(), "status_shipped_s")
	b.ReportMetric(float64(statusEvents)/statusT.Seconds(), "status_events/s")
	b.ReportMetric(burstT.Seconds(), "status_burst_s")
	b.ReportMetric(hours, "outage_h")
	b.ReportMetric(float64(hourMsgs), "catchup_msgs")
	b.ReportMetric(float64(hourAudit), "catchup_audit")
	b.ReportMetric(catchT.Seconds(), "catchup_s")
	b.ReportMetric(float64(hourMsgs)/catchT.Seconds(), "catchup_msgs/s")
}
