package federation_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/federation"
	"github.com/vigil-vms/vigil/internal/federation/fedtest"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// TestAuditHeadsAtTier1: a lower site's witnessed audit heads reach tier 1
// after the entries they cover; tier 1 checks them against the chain it
// received (a head that contradicts it marks the chain broken) and keeps
// them; and tier 1's copy proves a truncation made afterwards in the lower
// site's database, naming the entries cut off.
func TestAuditHeadsAtTier1(t *testing.T) {
	storetest.Each(t, func(t *testing.T, lowerDB *store.DB) {
		ctx := context.Background()
		proxy := fedtest.NewLinkProxy(t)
		var t1DB *store.DB
		if lowerDB.Engine == store.Postgres {
			t1DB = storetest.Postgres(t)
		} else {
			t1DB = storetest.SQLite(t)
		}
		t1 := startTier1(t, t1DB, proxy)
		t1.SeedWorld(nil)
		if _, err := t1.App.Registry.CreateSystem(ctx, seed, registry.System{ID: "xa-h", Name: "Camera xã H", Tier: 3,
			ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-h"}); err != nil {
			t.Fatal(err)
		}
		t1.User("admin", "so-khcn", "admin")
		low := startLower(t, lowerDB, "site-h", 3, t1.Base, enrollToken(t, t1.Login("admin"), "site-h", "xa-h"))
		batch := make([]audit.Entry, 250)
		for i := range batch {
			batch[i] = audit.Entry{ActorID: "u-1", Actor: "Lò Văn Cường", Action: "playback.export", Object: "camera/c-1", Outcome: audit.OK}
		}
		if _, err := low.App.Audit.AppendBatch(ctx, lowerDB.Q(), batch); err != nil {
			t.Fatal(err)
		}
		head, _, err := low.App.Witness.Sync(ctx)
		if err != nil || head.Seq < 250 {
			t.Fatalf("head %+v %v", head, err)
		}
		heads := func() []audit.SignedHead {
			hs, err := t1.App.Federation.SiteHeads(ctx, "site-h")
			if err != nil {
				t.Fatal(err)
			}
			return hs
		}
		waitForWhy(t, "the lower site's head at tier 1", func() bool {
			hs := heads()
			return len(hs) > 0 && hs[len(hs)-1] == head
		}, func() string { return strings.Join(lines(heads()), "") })
		rep, err := t1.App.Federation.VerifySiteAudit(ctx, "site-h")
		if err != nil || !rep.OK || rep.HeadSeq != head.Seq || rep.Heads < 1 {
			t.Fatalf("tier 1's check of the site's log: %+v %v", rep, err)
		}

		// A head that contradicts the chain tier 1 received (correctly
		// signed: a lower site that rewrote its log) marks it broken; a head
		// signed by another key is refused.
		lowPub := base64.StdEncoding.EncodeToString(low.App.Audit.PublicKey())
		bad := audit.SignHead(low.App.SiteKey, low.App.KeyID, "site-h", head.Seq-5, strings.Repeat("0", 64), head.AtMS)
		if err := low.App.Federation.PublishRawForTest(ctx, federation.Envelope{Kind: federation.KindAuditHead,
			Head: &federation.HeadRecord{SignedHead: bad, PublicKey: lowPub}}); err != nil {
			t.Fatal(err)
		}
		other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
		otherPub := other.Public().(ed25519.PublicKey)
		forged := audit.SignHead(other, low.App.KeyID, "site-h", head.Seq, head.Hash, head.AtMS)
		if err := low.App.Federation.PublishRawForTest(ctx, federation.Envelope{Kind: federation.KindAuditHead,
			Head: &federation.HeadRecord{SignedHead: forged, PublicKey: base64.StdEncoding.EncodeToString(otherPub)}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the contradicting head marks the chain broken", func() bool {
			x := site(t, t1, "site-h")
			return x.AuditBroken == head.Seq-5 && x.Rejected == 1
		})
		if rep, _ := t1.App.Federation.VerifySiteAudit(ctx, "site-h"); rep.OK || rep.BrokenAt != head.Seq-5 || rep.Problem != "head_mismatch" {
			t.Fatalf("tier 1's check after a contradicting head: %+v", rep)
		}

		// The lower site stops; its database is cut: the newest 40 entries
		// and their checkpoints deleted, the head row rewound.
		low.App.Close()
		keep := head.Seq - 40
		for _, q := range []string{`DELETE FROM audit_log WHERE seq > ?`, `DELETE FROM audit_checkpoints WHERE seq > ?`} {
			if _, err := lowerDB.Q().Exec(ctx, q, keep); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := lowerDB.Q().Exec(ctx, `UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_log WHERE seq = ?), ckpt_seq = 0 WHERE id = 1`, keep, keep); err != nil {
			t.Fatal(err)
		}
		keys := map[string]ed25519.PublicKey{low.App.KeyID: low.App.Audit.PublicKey()}
		if rep, err := audit.VerifyKeys(ctx, lowerDB, keys); err != nil || !rep.OK {
			t.Fatalf("the database alone: %+v %v", rep, err)
		}
		hs := heads()
		w := audit.NewWitnessed("site-h", func(id string) ed25519.PublicKey { return keys[id] })
		if err := w.Read(strings.NewReader(strings.Join(lines(hs), "")), "tier 1"); err != nil {
			t.Fatal(err)
		}
		rep2, err := audit.VerifyWitnessed(ctx, lowerDB, keys, w)
		last := hs[len(hs)-1].Seq
		if err != nil || rep2.OK || rep2.Problem != audit.ProblemWitnessMissing || rep2.Missing.From != keep+1 || rep2.Missing.To != last || last < head.Seq {
			t.Fatalf("tier 1's copy of the heads: %+v %v", rep2, err)
		}
	})
}

func lines(hs []audit.SignedHead) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = string(h.Line())
	}
	return out
}
