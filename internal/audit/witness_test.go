package audit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

const site = "t1"

var keys = map[string]ed25519.PublicKey{"site-key-1": pub(siteKey)}

func keyFor(id string) ed25519.PublicKey { return keys[id] }

// witnessedLog is a log with a checkpoint-file witness in a temporary folder.
type witnessedLog struct {
	db   *store.DB
	log  *audit.Log
	w    *audit.Witness
	file *audit.FileWitness
	path string
}

func newWitnessed(t *testing.T, db *store.DB, sinks ...audit.HeadSink) *witnessedLog {
	t.Helper()
	path := filepath.Join(t.TempDir(), "witness", "audit-heads.jsonl")
	fw, err := audit.OpenFileWitness(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	l := newLog(db, 1000)
	w, err := l.NewWitness(db, audit.WitnessOptions{Site: site, Every: 100, Interval: time.Hour, Sinks: append([]audit.HeadSink{fw}, sinks...)})
	if err != nil {
		t.Fatal(err)
	}
	return &witnessedLog{db: db, log: l, w: w, file: fw, path: path}
}

// fillWitnessed appends n entries in batches of 100, the witness signing the
// head after each batch (as its loop does every 100 entries).
func (wl *witnessedLog) fill(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	for done := 0; done < n; done += 100 {
		batch := make([]audit.Entry, min(100, n-done))
		for i := range batch {
			batch[i] = sample(done + i)
		}
		if _, err := wl.log.AppendBatch(ctx, wl.db.Q(), batch); err != nil {
			t.Fatal(err)
		}
		if _, _, err := wl.w.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func (wl *witnessedLog) verify(t *testing.T) audit.Report {
	t.Helper()
	wit := audit.NewWitnessed(site, keyFor)
	if err := wit.ReadFile(wl.path); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyWitnessed(context.Background(), wl.db, keys, wit)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// cut deletes the entries after keep with their checkpoints and rewinds the
// head row to entry keep: what an attacker with write access to the
// database does to hide the newest entries.
func cut(t *testing.T, db *store.DB, keep int64) {
	t.Helper()
	exec(t, db, `DELETE FROM audit_log WHERE seq > ?`, keep)
	exec(t, db, `DELETE FROM audit_checkpoints WHERE seq > ?`, keep)
	hash := ""
	if keep > 0 {
		hash = hashAt(t, db, keep)
	}
	exec(t, db, `UPDATE audit_head SET seq = ?, hash = ?, ckpt_seq = (SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints) WHERE id = 1`, keep, hash)
}

func wantMissing(t *testing.T, rep audit.Report, problem string, from, to int64) {
	t.Helper()
	if rep.OK || rep.Problem != problem || rep.Missing == nil || rep.Missing.From != from || rep.Missing.To != to {
		t.Fatalf("want %s %d..%d, got %+v", problem, from, to, rep)
	}
	rng := fmt.Sprintf("%d..%d", from, to)
	if m := rep.Explain(); !strings.Contains(m.VI, rng) || !strings.Contains(m.EN, rng) || !strings.Contains(rep.String(), rng) {
		t.Fatalf("the message does not name %s: %+v / %s", rng, m, rep)
	}
}

func TestWitnessDetectsTruncation(t *testing.T) {
	for _, n := range []int64{10, 317} {
		t.Run(fmt.Sprintf("cut %d", n), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				wl := newWitnessed(t, db)
				wl.fill(t, 1000)
				if rep := wl.verify(t); !rep.OK || rep.Witnessed != 10 || rep.WitnessSeq != 1000 {
					t.Fatalf("before: %+v", rep)
				}
				cut(t, db, 1000-n)
				// The database alone cannot tell (the finding).
				if rep := mustVerify(t, db); !rep.OK {
					t.Fatalf("database-only verify: %+v", rep)
				}
				rep := wl.verify(t)
				wantMissing(t, rep, audit.ProblemWitnessMissing, 1000-n+1, 1000)
				if rep.BadSeq != 1000-n+1 {
					t.Fatalf("bad seq %d", rep.BadSeq)
				}
			})
		})
	}
}

func TestWitnessDetectsWipe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		wl := newWitnessed(t, db)
		wl.fill(t, 1000)
		cut(t, db, 0)
		exec(t, db, `UPDATE audit_head SET ckpt_at = 0 WHERE id = 1`)
		if rep := mustVerify(t, db); !rep.OK || rep.Entries != 0 {
			t.Fatalf("database-only verify: %+v", rep)
		}
		rep := wl.verify(t)
		wantMissing(t, rep, audit.ProblemWitnessMissing, 1, 1000)
		if rep.Entries != 0 {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestWitnessDetectsRewind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		wl := newWitnessed(t, db)
		wl.fill(t, 1000)
		// Rewind to 950 and let the site write on: the log grows past the
		// witnessed 1000 again, with other entries, and the witness signs
		// the new heads too.
		cut(t, db, 950)
		wl.fill(t, 120)
		if rep := mustVerify(t, db); !rep.OK || rep.Entries != 1070 {
			t.Fatalf("database-only verify: %+v", rep)
		}
		rep := wl.verify(t)
		wantMissing(t, rep, audit.ProblemWitnessDiffers, 901, 1000)
		if rep.BadSeq != 1000 || rep.Witnessed != 9 {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestWitnessKeepsTamperDetection(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		wl := newWitnessed(t, db)
		wl.fill(t, 300)
		exec(t, db, `UPDATE audit_log SET details = ? WHERE seq = 123`, `{"i":1}`)
		if rep := wl.verify(t); rep.OK || rep.Problem != audit.ProblemHashMismatch || rep.BadSeq != 123 {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestWitnessBadLinesReported(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		wl := newWitnessed(t, db)
		wl.fill(t, 200)
		good := wl.w.Last()
		f, err := os.OpenFile(wl.path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		forged := audit.SignHead(otherKey, "site-key-1", site, 200, good.Hash, good.AtMS) // an untrusted key
		edited := good
		edited.Seq = 150 // relabelled: the signature no longer holds
		other := audit.SignHead(siteKey, "site-key-1", "t2", 5, good.Hash, good.AtMS)
		for _, l := range [][]byte{forged.Line(), edited.Line(), []byte("not json\n"), other.Line()} {
			if _, err := f.Write(l); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		rep := wl.verify(t)
		if rep.OK || rep.Problem != audit.ProblemWitnessLine || rep.WitnessBad != 3 || rep.Witnessed != 2 {
			t.Fatalf("%+v", rep)
		}
		l := rep.WitnessBadLines
		if l[0].Line != 3 || l[0].Problem != "signature" || l[1].Line != 4 || l[1].Seq != 150 || l[2].Line != 5 || l[2].Problem != "malformed" {
			t.Fatalf("bad lines %+v", l)
		}
		if m := rep.Explain(); !strings.Contains(m.VI, "dòng 3") {
			t.Fatalf("%+v", m)
		}
	})
}

func TestWitnessFileRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		wl := newWitnessed(t, db)
		wl.fill(t, 150)
		last := wl.w.Last()
		if last.Seq != 150 {
			t.Fatalf("last %+v", last)
		}
		// Nothing new: no second line for the same head.
		if _, wrote, err := wl.w.Sync(ctx); err != nil || wrote {
			t.Fatalf("wrote=%v err=%v", wrote, err)
		}
		wl.file.Close()
		// A crash in the middle of a line: the torn line is cut at reopen.
		f, _ := os.OpenFile(wl.path, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(`{"site":"t1","seq":16`)
		f.Close()
		fw, err := audit.OpenFileWitness(wl.path)
		if err != nil {
			t.Fatal(err)
		}
		defer fw.Close()
		got, ok := fw.Last(site)
		if !ok || got != last {
			t.Fatalf("last after reopen %+v %v", got, ok)
		}
		w, err := wl.log.NewWitness(db, audit.WitnessOptions{Site: site, Sinks: []audit.HeadSink{fw}, Last: got})
		if err != nil {
			t.Fatal(err)
		}
		wl.w, wl.file = w, fw
		wl.fill(t, 50)
		rep := wl.verify(t)
		if !rep.OK || rep.Witnessed != 3 || rep.WitnessSeq != 200 || rep.WitnessBad != 0 {
			t.Fatalf("%+v", rep)
		}
		b, _ := os.ReadFile(wl.path)
		if n := strings.Count(string(b), "\n"); n != 3 {
			t.Fatalf("%d lines:\n%s", n, b)
		}
	})
}

// TestWitnessLoop runs the witness as the site does: a head is witnessed once
// 100 entries were committed (the interval is an hour here), and a verify
// running beside the appends never sees a head the log does not have.
func TestWitnessLoop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		wl := newWitnessed(t, db)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); wl.w.Run(ctx) }()
		defer func() { cancel(); wg.Wait() }()
		done := make(chan struct{})
		go func() {
			defer close(done)
			fill(t, db, wl.log, 250)
		}()
		for running := true; running; {
			select {
			case <-done:
				running = false
			default:
			}
			if rep := wl.verify(t); !rep.OK {
				t.Fatalf("verify while appending: %+v", rep)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for wl.w.Last().Seq <= 150 { // fewer than 100 entries are ever left unwitnessed
			if time.Now().After(deadline) {
				t.Fatalf("more than 99 entries left unwitnessed: %+v", wl.w.Last())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if rep := wl.verify(t); !rep.OK || rep.Witnessed < 2 {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestWitnessNeedsKeyAndSink(t *testing.T) {
	db := storetest.SQLite(t)
	if _, err := audit.New(audit.Options{DB: db}).NewWitness(db, audit.WitnessOptions{Site: site}); !errors.Is(err, audit.ErrNoKey) {
		t.Fatal(err)
	}
	if _, err := newLog(db, 0).NewWitness(db, audit.WitnessOptions{Site: site}); err == nil {
		t.Fatal("witness without a sink accepted")
	}
	if _, err := newLog(db, 0).NewWitness(db, audit.WitnessOptions{Site: "Bad Site", Sinks: []audit.HeadSink{nil}}); err == nil {
		t.Fatal("bad site id accepted")
	}
}
