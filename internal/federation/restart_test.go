package federation_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/federation/fedtest"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// restartRig is tier 1 (embedded NATS, its data folder kept across
// restarts) and one lower site (the benchmark's reduced site) linked through
// a proxy.
type restartRig struct {
	t1db    *store.DB
	dataDir string
	// leafListen is tier 1's leaf address, the same across restarts (as
	// a configured site's is), so the lower site's leaf returns as soon as
	// tier 1 listens again.
	leafListen string
	proxy      *fedtest.LinkProxy
	t1         *apptest.Site
	a          *benchLower
}

func (r *restartRig) startT1(tb testing.TB) {
	tb.Helper()
	r.t1 = apptest.Start(tb, r.t1db, apptest.Options{Mutate: func(c *config.Config) {
		c.DataDir = r.dataDir // the same site key and JetStream store across a restart
		c.Federation.LeafListen = r.leafListen
		c.Federation.LeafURL = "nats-leaf://" + r.proxy.Addr()
		c.Federation.LinkDownAlert = time.Minute
	}})
	r.proxy.SetTarget(r.t1.App.Federation.LeafAddr())
}

func newRestartRig(tb testing.TB, t1db *store.DB) *restartRig {
	tb.Helper()
	ctx := context.Background()
	r := &restartRig{t1db: t1db, dataDir: tb.TempDir(), proxy: fedtest.NewLinkProxy(tb), leafListen: "127.0.0.1:0"}
	r.startT1(tb)
	r.leafListen = r.t1.App.Federation.LeafAddr()
	r.t1.SeedWorld(nil)
	if _, err := r.t1.App.Registry.CreateSystem(ctx, seed, registry.System{ID: "xa-a", Name: "Camera xã A", Tier: 3,
		ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-a"}); err != nil {
		tb.Fatal(err)
	}
	r.t1.User("admin", "so-khcn", "admin")
	tok := enrollToken(tb, r.t1.Login("admin"), "site-a", "xa-a")
	r.a = startBenchLower(tb, storetest.SQLite(tb), "site-a", 3, r.t1.Base, tok)
	r.a.seed(tb, "xa-a", 3, "site-a")
	waitFor(tb, "link up", func() bool { return site(tb, r.t1, "site-a").LinkState == "up" && r.a.Fed.LinkUp() })
	r.waitApplied(tb)
	return r
}

// changes writes n audit entries at the lower site (what an outage holds,
// reduced to its volume) and waits until they are in its outbox.
func (r *restartRig) changes(tb testing.TB, n int, tag string) int64 {
	tb.Helper()
	es := make([]audit.Entry, n)
	for i := range es {
		es[i] = audit.Entry{ActorID: "u-op", Actor: "op", Action: "live.start", Object: fmt.Sprintf("camera/cam-%s-%d", tag, i), Outcome: audit.OK}
	}
	if err := r.a.DB.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := r.a.Audit.AppendBatch(context.Background(), tx, es)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return r.a.waitShipped(tb, "changes shipped", 0).OutSeq
}

func (r *restartRig) applied(tb testing.TB) int64 { return site(tb, r.t1, "site-a").AppliedSeq }

func (r *restartRig) waitApplied(tb testing.TB) {
	tb.Helper()
	st := r.a.waitShipped(tb, "outbox", 0)
	waitForWhy(tb, "tier 1 applied everything", func() bool { return r.applied(tb) >= st.OutSeq }, func() string {
		return fmt.Sprintf("lower site outbox %d, tier 1 %+v", st.OutSeq, site(tb, r.t1, "site-a"))
	})
}

// catchUpAfterCut: the link cut while n changes happen, then restored;
// the time until tier 1 applied them.
func (r *restartRig) catchUpAfterCut(tb testing.TB, n int) time.Duration {
	tb.Helper()
	r.proxy.Cut()
	waitFor(tb, "link down", func() bool { return !r.a.Fed.LinkUp() })
	want := r.changes(tb, n, "cut")
	t0 := time.Now()
	r.proxy.Restore()
	waitForWhy(tb, "catch-up after a link cut", func() bool { return r.applied(tb) >= want }, func() string {
		return fmt.Sprintf("want %d, tier 1 %+v", want, site(tb, r.t1, "site-a"))
	})
	return time.Since(t0)
}

// catchUpAfterRestart: tier 1 stops, n changes happen at the lower site,
// tier 1 starts again (same database and data folder); the time from its
// start until it applied them.
func (r *restartRig) catchUpAfterRestart(tb testing.TB, n int) time.Duration {
	tb.Helper()
	r.t1.App.Close()
	waitFor(tb, "link down at the lower site", func() bool { return !r.a.Fed.LinkUp() })
	want := r.changes(tb, n, "restart")
	t0 := time.Now()
	r.startT1(tb)
	waitForWhy(tb, "catch-up after tier 1's restart", func() bool { return r.applied(tb) >= want }, func() string {
		return fmt.Sprintf("want %d, tier 1 %+v, lower site link up %v", want, site(tb, r.t1, "site-a"), r.a.Fed.LinkUp())
	})
	return time.Since(t0)
}

// TestCatchUpAfterTier1Restart: after tier 1 restarts, a lower site's
// changes made meanwhile arrive, each once, like after a link cut (tier 1
// re-adds every site's source at start instead of waiting for the
// server's retry back-off).
func TestCatchUpAfterTier1Restart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRestartRig(t, db)
		cut := r.catchUpAfterCut(t, 200)
		restart := r.catchUpAfterRestart(t, 200)
		t.Logf("catch-up of 200 changes: %v after a link cut, %v after tier 1's restart", cut, restart)
		x := site(t, r.t1, "site-a")
		st := r.a.stats(t)
		if x.AppliedSeq != st.OutSeq || x.AuditSeq != st.AuditSeq || x.AuditBroken != 0 || x.Rejected != 0 {
			t.Fatalf("tier 1 after catch-up: %+v, lower site %+v", x, st)
		}
		if n := count(t, r.t1.App.DB, `SELECT COUNT(*) FROM federation_audit WHERE site_id = 'site-a'`); int64(n) != st.AuditSeq {
			t.Fatalf("%d shipped audit rows, want %d", n, st.AuditSeq)
		}
	})
}

// BenchmarkCatchUpAfterRestart compares the catch-up of the same volume of
// changes (FED_BENCH_RESTART_CHANGES audit entries, default 2,000) after a
// link cut and after tier 1 itself restarted. Tier 1 on PostgreSQL
// (FED_BENCH_TIER1=sqlite for SQLite).
func BenchmarkCatchUpAfterRestart(b *testing.B) {
	n := benchN("FED_BENCH_RESTART_CHANGES", 2000)
	var db *store.DB
	if os.Getenv("FED_BENCH_TIER1") == "sqlite" {
		db = storetest.SQLite(b)
	} else {
		db = storetest.Postgres(b)
	}
	r := newRestartRig(b, db)
	var cut, restart time.Duration
	for range b.N {
		c := r.catchUpAfterCut(b, n)
		s := r.catchUpAfterRestart(b, n)
		b.Logf("catch-up of %d changes: %.2f s after a link cut, %.2f s after tier 1's restart", n, c.Seconds(), s.Seconds())
		cut += c
		restart += s
	}
	b.ReportMetric(float64(n), "changes")
	b.ReportMetric(cut.Seconds()/float64(b.N), "cut_catchup_s")
	b.ReportMetric(restart.Seconds()/float64(b.N), "restart_catchup_s")
}
