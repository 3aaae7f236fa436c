package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func testKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b + byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

var (
	siteKey  = testKey(1)
	otherKey = testKey(99)
)

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newLog(db *store.DB, every int64) *audit.Log {
	return audit.New(audit.Options{Key: siteKey, KeyID: "site-key-1", EveryEntries: every, DB: db,
		Now: func() time.Time { return time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC) }})
}

func sample(i int) audit.Entry {
	return audit.Entry{
		ActorID: fmt.Sprintf("u-%d", i%3),
		Actor:   []string{"Nguyễn Văn An", "Trần Thị Bình", "Lò Văn Cường"}[i%3],
		Org:     []string{"so-tttt", "cong-an-tinh", "ubnd-muong-thanh"}[i%3],
		Action:  []string{"auth.login", "camera.update", "playback.export"}[i%3],
		Object:  fmt.Sprintf("camera/cam-%02d", i%5),
		Outcome: audit.OK,
		Reason:  "kiểm tra",
		Details: map[string]any{"i": i, "ghi_chú": "Ngã tư Mường Thanh", "z": []any{1, "a"}},
		Remote:  "10.0.0.7",
	}
}

// fill appends n entries, one transaction each, as the rooms do.
func fill(t testing.TB, db *store.DB, l *audit.Log, n int) []audit.Entry {
	t.Helper()
	ctx := context.Background()
	out := make([]audit.Entry, 0, n)
	for i := 0; i < n; i++ {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			e, err := l.Append(ctx, tx, sample(i))
			out = append(out, e)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func mustVerify(t *testing.T, db *store.DB) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), db, pub(siteKey))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func exec(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Q().Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestAppendVerify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(db, 10)
		es := fill(t, db, l, 35)
		for i, e := range es {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d: seq %d", i, e.Seq)
			}
			want := ""
			if i > 0 {
				want = es[i-1].Hash
			}
			if e.PrevHash != want || len(e.Hash) != 64 {
				t.Fatalf("entry %d: prev %q hash %q", i, e.PrevHash, e.Hash)
			}
		}
		rep := mustVerify(t, db)
		if !rep.OK || rep.Entries != 35 || rep.Checkpoints != 3 || rep.HeadSeq != 35 {
			t.Fatalf("report %+v", rep)
		}
		cps, err := audit.Checkpoints(context.Background(), db.Q(), 0, 0)
		if err != nil || len(cps) != 3 || cps[0].Seq != 10 || cps[2].Seq != 30 || cps[0].KeyID != "site-key-1" {
			t.Fatalf("checkpoints %+v %v", cps, err)
		}
		// The wrong public key must not pass.
		rep, err = audit.Verify(context.Background(), db, pub(otherKey))
		if err != nil || rep.OK || rep.BadSeq != 10 || rep.Problem != audit.ProblemCheckpointSig {
			t.Fatalf("wrong key: %+v %v", rep, err)
		}
		// Key rotation: checkpoints verified by key id.
		rep, err = audit.VerifyKeys(context.Background(), db, map[string]ed25519.PublicKey{"site-key-1": pub(siteKey)})
		if err != nil || !rep.OK {
			t.Fatalf("verify keys: %+v %v", rep, err)
		}
		rep, err = audit.VerifyKeys(context.Background(), db, map[string]ed25519.PublicKey{"other": pub(siteKey)})
		if err != nil || rep.OK || rep.Problem != audit.ProblemCheckpointSig {
			t.Fatalf("unknown key id: %+v %v", rep, err)
		}
	})
}

func TestEmptyLogVerifies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if rep := mustVerify(t, db); !rep.OK || rep.Entries != 0 {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestVietnameseRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(db, 0)
		details := map[string]any{
			"lý_do":         "Điều tra vụ việc ở phường Mường Thanh, TP. Điện Biên Phủ",
			"người_yêu_cầu": "Đại úy Lò Thị Hương — Công an tỉnh",
			"số":            int64(9007199254740993), // beyond float64: must survive exactly
			"tỷ_lệ":         0.1,
			"html":          "<b>&</b>",
			"lồng":          map[string]any{"ă": []any{"â", "ê", "ô", "ơ", "ư", "đ"}},
		}
		in := audit.Entry{ActorID: "u-1", Actor: "Nguyễn Thị Ánh", Org: "so-tttt", Action: "playback.export",
			Object: "camera/ngã-tư-1", Outcome: audit.OK, Reason: "điều tra", Details: details}
		got, err := l.Append(ctx, db.Q(), in) // db.Q(): runs in its own transaction via Options.DB
		if err != nil {
			t.Fatal(err)
		}
		list, _, err := audit.List(ctx, db.Q(), audit.Filter{})
		if err != nil || len(list) != 1 {
			t.Fatalf("list %v %v", list, err)
		}
		e := list[0]
		if e.Actor != in.Actor || e.Object != in.Object || e.Reason != in.Reason || e.Hash != got.Hash {
			t.Fatalf("round trip: %+v", e)
		}
		a, _ := json.Marshal(details)
		b, _ := json.Marshal(e.Details)
		if string(a) != string(b) {
			t.Fatalf("details changed:\n%s\n%s", a, b)
		}
		// An entry read back rehashes to its stored hash (what tier 1 does).
		if h, err := audit.ComputeHash(e); err != nil || h != e.Hash {
			t.Fatalf("recomputed %s want %s (%v)", h, e.Hash, err)
		}
		if rep := mustVerify(t, db); !rep.OK {
			t.Fatal(rep)
		}
	})
}

func TestInvalidTextStoredAsHashed(t *testing.T) {
	// Invalid UTF-8 and NUL would be rejected (PostgreSQL) or kept (SQLite);
	// either way the chain must still verify.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(db, 0)
		e, err := l.Append(context.Background(), db.Q(), audit.Entry{Actor: "bad\xff\x00name", Action: "auth.login",
			Details: map[string]any{"k\xfe": "v\x00"}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsRune(e.Actor, 0) {
			t.Fatalf("NUL kept: %q", e.Actor)
		}
		if rep := mustVerify(t, db); !rep.OK {
			t.Fatal(rep)
		}
	})
}

func TestRedactsSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(db, 0)
		_, err := l.Append(context.Background(), db.Q(), audit.Entry{Action: "user.update",
			Details: map[string]any{"new_password": "hunter2", "nested": map[string]any{"client_secret": "s3"}, "name": "ok"}})
		if err != nil {
			t.Fatal(err)
		}
		var raw string
		if err := db.Q().QueryRow(context.Background(), `SELECT details FROM audit_log WHERE seq = 1`).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, "hunter2") || strings.Contains(raw, "s3") || !strings.Contains(raw, `"name":"ok"`) {
			t.Fatalf("stored details %s", raw)
		}
	})
}

func TestRolledBackAppendLeavesNoTrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(db, 1)
		boom := errors.New("change failed")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := l.Append(ctx, tx, sample(0)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		es := fill(t, db, l, 2)
		if es[0].Seq != 1 || es[0].PrevHash != "" {
			t.Fatalf("after rollback: %+v", es[0])
		}
		if rep := mustVerify(t, db); !rep.OK || rep.Checkpoints != 2 {
			t.Fatal(rep)
		}
	})
}

func TestNeedsTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := audit.New(audit.Options{Key: siteKey})
		if _, err := l.Append(context.Background(), db.Q(), sample(1)); !errors.Is(err, audit.ErrNeedTx) {
			t.Fatalf("got %v", err)
		}
		if _, err := l.Append(context.Background(), db.Q(), audit.Entry{}); err == nil {
			t.Fatal("entry without action accepted")
		}
	})
}

func TestCheckpointPolicy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
		l := audit.New(audit.Options{Key: siteKey, KeyID: "k", EveryInterval: 5 * time.Minute, Now: clk.Now, DB: db})
		fill(t, db, l, 3) // the first entry is signed at once, then the interval counts
		clk.add(4 * time.Minute)
		fill(t, db, l, 1)
		clk.add(2 * time.Minute)
		fill(t, db, l, 1) // seq 5: 6 minutes after the first checkpoint
		cps, err := audit.Checkpoints(ctx, db.Q(), 0, 0)
		if err != nil || len(cps) != 2 || cps[0].Seq != 1 || cps[1].Seq != 5 {
			t.Fatalf("checkpoints %+v %v", cps, err)
		}
		// Nothing new: the ticker's call writes nothing.
		if _, wrote, err := l.Checkpoint(ctx, db); err != nil || wrote {
			t.Fatalf("wrote=%v err=%v", wrote, err)
		}
		fill(t, db, l, 2)
		cp, wrote, err := l.Checkpoint(ctx, db)
		if err != nil || !wrote || cp.Seq != 7 {
			t.Fatalf("checkpoint %+v wrote=%v err=%v", cp, wrote, err)
		}
		if rep := mustVerify(t, db); !rep.OK || rep.Checkpoints != 3 {
			t.Fatal(rep)
		}
		if _, _, err := audit.New(audit.Options{}).Checkpoint(ctx, db); !errors.Is(err, audit.ErrNoKey) {
			t.Fatalf("no key: %v", err)
		}
	})
}

func TestAppendBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(db, 100)
		fill(t, db, l, 3)
		batch := make([]audit.Entry, 1234) // more than one INSERT chunk
		for i := range batch {
			batch[i] = sample(i)
		}
		var out []audit.Entry
		err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			out, err = l.AppendBatch(ctx, tx, batch)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if out[0].Seq != 4 || out[len(out)-1].Seq != 1237 {
			t.Fatalf("seqs %d..%d", out[0].Seq, out[len(out)-1].Seq)
		}
		rep := mustVerify(t, db)
		if !rep.OK || rep.Entries != 1237 || rep.Checkpoints != 12 {
			t.Fatal(rep)
		}
	})
}

// forge builds a row that hashes correctly over its own content, the way an
// attacker with database access (and this source code) would.
func forge(t *testing.T, db *store.DB, seq int64, prev string) {
	t.Helper()
	e := audit.Entry{Seq: seq, At: time.UnixMilli(1740000000000).UTC(), ActorID: "u-evil", Actor: "Kẻ giả mạo",
		Org: "so-tttt", Action: "camera.delete", Object: "camera/cam-01", Outcome: audit.OK, PrevHash: prev}
	h, err := audit.ComputeHash(e)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO audit_log (seq, at, actor_id, actor, org, action, object, outcome, reason, details, remote, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', '{}', '', ?, ?)`,
		seq, e.At.UnixMilli(), e.ActorID, e.Actor, e.Org, e.Action, e.Object, e.Outcome, prev, h)
}

func hashAt(t *testing.T, db *store.DB, seq int64) string {
	t.Helper()
	var h string
	if err := db.Q().QueryRow(context.Background(), `SELECT hash FROM audit_log WHERE seq = ?`, seq).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

const allCols = `at, actor_id, actor, org, action, object, outcome, reason, details, remote, prev_hash, hash`

// swap exchanges the given columns of two rows.
func swap(t *testing.T, db *store.DB, a, b int64, cols string) {
	t.Helper()
	ctx := context.Background()
	names := strings.Split(cols, ", ")
	err := db.InTx(ctx, func(tx *store.Tx) error {
		read := func(seq int64) []any {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := tx.QueryRow(ctx, `SELECT `+cols+` FROM audit_log WHERE seq = ?`, seq).Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			return vals
		}
		va, vb := read(a), read(b)
		set := strings.Join(names, " = ?, ") + " = ?"
		if _, err := tx.Exec(ctx, `UPDATE audit_log SET `+set+` WHERE seq = ?`, append(vb, a)...); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE audit_log SET `+set+` WHERE seq = ?`, append(va, b)...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rewrite changes entry from's details and recomputes every hash after it and
// the head: a consistent chain that only a signed checkpoint can expose.
func rewrite(t *testing.T, db *store.DB, from int64) {
	t.Helper()
	ctx := context.Background()
	es, err := audit.Since(ctx, db.Q(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	prev := es[from-2].Hash
	for _, e := range es[from-1:] {
		if e.Seq == from {
			e.Details = map[string]any{"i": 0, "sửa": "đã xoá dấu vết"}
		}
		e.PrevHash = prev
		h, err := audit.ComputeHash(e)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := audit.CanonicalDetails(e.Details)
		exec(t, db, `UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?`, d, prev, h, e.Seq)
		prev = h
	}
	exec(t, db, `UPDATE audit_head SET hash = ? WHERE id = 1`, prev)
}

func TestTamperDetected(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t *testing.T, db *store.DB)
		seq     int64
		problem string
	}{
		{"edit details", func(t *testing.T, db *store.DB) {
			exec(t, db, `UPDATE audit_log SET details = ? WHERE seq = 7`, `{"i":7,"ghi_chú":"đã sửa"}`)
		}, 7, audit.ProblemHashMismatch},
		{"edit actor", func(t *testing.T, db *store.DB) {
			exec(t, db, `UPDATE audit_log SET actor = 'Người khác', actor_id = 'u-x' WHERE seq = 12`)
		}, 12, audit.ProblemHashMismatch},
		{"edit time", func(t *testing.T, db *store.DB) {
			exec(t, db, `UPDATE audit_log SET at = at + 1 WHERE seq = 29`)
		}, 29, audit.ProblemHashMismatch},
		{"edit prev_hash", func(t *testing.T, db *store.DB) {
			exec(t, db, `UPDATE audit_log SET prev_hash = ? WHERE seq = 8`, strings.Repeat("0", 64))
		}, 8, audit.ProblemPrevMismatch},
		{"delete row", func(t *testing.T, db *store.DB) {
			exec(t, db, `DELETE FROM audit_log WHERE seq = 15`)
		}, 15, audit.ProblemSeqGap},
		{"delete first rows", func(t *testing.T, db *store.DB) {
			exec(t, db, `DELETE FROM audit_log WHERE seq <= 2`)
		}, 1, audit.ProblemSeqGap},
		{"insert forged row in the middle", func(t *testing.T, db *store.DB) {
			// Make room at 20 by renumbering the rows after it, as an
			// attacker must since seq is the primary key.
			for s := int64(30); s >= 20; s-- {
				exec(t, db, `UPDATE audit_log SET seq = ? WHERE seq = ?`, s+1, s)
			}
			exec(t, db, `UPDATE audit_head SET seq = 31 WHERE id = 1`)
			forge(t, db, 20, strings.Repeat("ab", 32))
		}, 20, audit.ProblemPrevMismatch},
		{"insert forged row well linked", func(t *testing.T, db *store.DB) {
			// Linked correctly to 21 (not a checkpoint): the forged row
			// passes, the row after it no longer links.
			for s := int64(30); s >= 22; s-- {
				exec(t, db, `UPDATE audit_log SET seq = ? WHERE seq = ?`, s+1, s)
			}
			exec(t, db, `UPDATE audit_head SET seq = 31 WHERE id = 1`)
			forge(t, db, 22, hashAt(t, db, 21))
		}, 23, audit.ProblemPrevMismatch},
		{"insert forged row at a checkpoint", func(t *testing.T, db *store.DB) {
			for s := int64(30); s >= 20; s-- {
				exec(t, db, `UPDATE audit_log SET seq = ? WHERE seq = ?`, s+1, s)
			}
			exec(t, db, `UPDATE audit_head SET seq = 31 WHERE id = 1`)
			forge(t, db, 20, hashAt(t, db, 19))
		}, 20, audit.ProblemCheckpointHash},
		{"append forged row and move head", func(t *testing.T, db *store.DB) {
			forge(t, db, 31, strings.Repeat("cd", 32))
			exec(t, db, `UPDATE audit_head SET seq = 31 WHERE id = 1`)
		}, 31, audit.ProblemPrevMismatch},
		{"append forged row behind the head", func(t *testing.T, db *store.DB) {
			forge(t, db, 31, hashAt(t, db, 30))
		}, 31, audit.ProblemRowsBeyondHead},
		{"insert row before the first", func(t *testing.T, db *store.DB) {
			forge(t, db, 0, "")
		}, 0, audit.ProblemSeqDuplicate},
		{"swap whole rows", func(t *testing.T, db *store.DB) {
			swap(t, db, 5, 9, allCols)
		}, 5, audit.ProblemPrevMismatch},
		{"swap contents keep hashes", func(t *testing.T, db *store.DB) {
			swap(t, db, 5, 9, `at, actor_id, actor, org, action, object, outcome, reason, details, remote`)
		}, 5, audit.ProblemHashMismatch},
		{"truncate tail", func(t *testing.T, db *store.DB) {
			exec(t, db, `DELETE FROM audit_log WHERE seq > 25`)
		}, 26, audit.ProblemTailTruncated},
		{"truncate tail and head", func(t *testing.T, db *store.DB) {
			exec(t, db, `DELETE FROM audit_log WHERE seq > 25`)
			exec(t, db, `UPDATE audit_head SET seq = 25, hash = ? WHERE id = 1`, hashAt(t, db, 25))
		}, 26, audit.ProblemTailTruncated},
		{"forged checkpoint signature", func(t *testing.T, db *store.DB) {
			exec(t, db, `UPDATE audit_checkpoints SET signature = ? WHERE seq = 20`, strings.Repeat("A", 86)+"==")
		}, 20, audit.ProblemCheckpointSig},
		{"checkpoint signed by another key", func(t *testing.T, db *store.DB) {
			// A correct signature over the right message, by an untrusted key.
			h := hashAt(t, db, 15)
			sig := audit.SignCheckpoint(otherKey, "site-key-1", 15, h, 1)
			exec(t, db, `INSERT INTO audit_checkpoints (seq, hash, at, signature, key_id) VALUES (15, ?, 1, ?, 'site-key-1')`, h, sig)
		}, 15, audit.ProblemCheckpointSig},
		{"checkpoint hash edited", func(t *testing.T, db *store.DB) {
			exec(t, db, `UPDATE audit_checkpoints SET hash = ? WHERE seq = 10`, hashAt(t, db, 9))
		}, 10, audit.ProblemCheckpointSig},
		{"rewritten chain caught by checkpoint", func(t *testing.T, db *store.DB) {
			rewrite(t, db, 12)
		}, 20, audit.ProblemCheckpointHash},
		{"tail rewritten after last checkpoint leaves head", func(t *testing.T, db *store.DB) {
			exec(t, db, `UPDATE audit_head SET hash = ? WHERE id = 1`, strings.Repeat("e", 64))
		}, 30, audit.ProblemHeadMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				fill(t, db, newLog(db, 10), 30)
				if rep := mustVerify(t, db); !rep.OK {
					t.Fatalf("before tampering: %v", rep)
				}
				c.tamper(t, db)
				rep := mustVerify(t, db)
				if rep.OK || rep.BadSeq != c.seq || rep.Problem != c.problem {
					t.Fatalf("want bad seq %d %s, got %+v", c.seq, c.problem, rep)
				}
				if m := rep.Message(); m.EN == "" || m.VI == "" || !strings.Contains(rep.String(), fmt.Sprint(c.seq)) {
					t.Fatalf("report text: %+v %q", m, rep.String())
				}
			})
		})
	}
}

func TestConcurrentAppend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(db, 7)
		const workers, each = 6, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					var err error
					if i%2 == 0 {
						err = db.InTx(ctx, func(tx *store.Tx) error {
							_, err := l.Append(ctx, tx, sample(w*100+i))
							return err
						})
					} else {
						_, err = l.Append(ctx, db.Q(), sample(w*100+i))
					}
					if err != nil {
						errs <- err
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		es, err := audit.Since(ctx, db.Q(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != workers*each {
			t.Fatalf("%d entries", len(es))
		}
		for i, e := range es {
			if e.Seq != int64(i+1) {
				t.Fatalf("seq %d at %d", e.Seq, i)
			}
		}
		rep := mustVerify(t, db)
		if !rep.OK || rep.Checkpoints != int64(workers*each/7) {
			t.Fatal(rep)
		}
	})
}

func TestVerifyWhileAppending(t *testing.T) {
	// Appends committed during a verify must not look like tampering.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(db, 5)
		fill(t, db, l, 20)
		done := make(chan struct{})
		go func() {
			defer close(done)
			fill(t, db, l, 40)
		}()
		for i := 0; i < 5; i++ {
			if rep := mustVerify(t, db); !rep.OK {
				t.Fatal(rep)
			}
		}
		<-done
		if rep := mustVerify(t, db); !rep.OK || rep.Entries != 60 {
			t.Fatal(rep)
		}
	})
}

func TestList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLog(db, 0)
		base := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
		batch := make([]audit.Entry, 30)
		for i := range batch {
			batch[i] = sample(i)
			batch[i].At = base.Add(time.Duration(i) * time.Hour)
			if i%4 == 0 {
				batch[i].Outcome = audit.Denied
			}
		}
		batch[29].Action = "CAMERA.update" // prefix match is case-sensitive on both engines
		if _, err := l.AppendBatch(ctx, db.Q(), batch); err != nil {
			t.Fatal(err)
		}
		count := func(f audit.Filter) []int64 {
			t.Helper()
			es, next, err := audit.List(ctx, db.Q(), f)
			if err != nil {
				t.Fatal(err)
			}
			if next != 0 {
				t.Fatalf("unexpected next page %d", next)
			}
			var s []int64
			for _, e := range es {
				s = append(s, e.Seq)
			}
			return s
		}
		eq := func(got []int64, want ...int64) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v want %v", got, want)
			}
		}
		eq(count(audit.Filter{ActorID: "u-1", To: base.Add(12 * time.Hour)}), 11, 8, 5, 2)
		eq(count(audit.Filter{Org: "so-tttt", From: base.Add(20 * time.Hour)}), 28, 25, 22)
		eq(count(audit.Filter{ActionPrefix: "camera.", Oldest: true, To: base.Add(10 * time.Hour)}), 2, 5, 8)
		eq(count(audit.Filter{ActionPrefix: "camera.", From: base.Add(25 * time.Hour)}), 29, 26)
		eq(count(audit.Filter{ActionPrefix: "CAMERA."}), 30)
		eq(count(audit.Filter{Object: "camera/cam-03", Outcome: audit.Denied}), 29, 9)
		eq(count(audit.Filter{ActionPrefix: "nothing"}))

		// Keyset paging visits every entry once, in both orders.
		for _, oldest := range []bool{false, true} {
			var seen []int64
			f := audit.Filter{Limit: 7, Oldest: oldest}
			for pages := 0; ; pages++ {
				es, next, err := audit.List(ctx, db.Q(), f)
				if err != nil || pages > 10 {
					t.Fatal(err, pages)
				}
				for _, e := range es {
					seen = append(seen, e.Seq)
				}
				if next == 0 {
					break
				}
				f.Cursor = next
			}
			if len(seen) != 30 {
				t.Fatalf("oldest=%v: %v", oldest, seen)
			}
			for i := 1; i < len(seen); i++ {
				if (seen[i] > seen[i-1]) != oldest {
					t.Fatalf("oldest=%v order %v", oldest, seen)
				}
			}
		}
		es, _ := audit.Since(ctx, db.Q(), 25, 3)
		if len(es) != 3 || es[0].Seq != 26 || es[2].Seq != 28 {
			t.Fatalf("since %+v", es)
		}
	})
}

func TestCanonicalDetails(t *testing.T) {
	type inner struct {
		Z int    `json:"z"`
		A string `json:"a"`
	}
	got, err := audit.CanonicalDetails(map[string]any{"b": inner{Z: 1, A: "x"}, "a": []any{map[string]any{"y": 1, "x": 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":[{"x":2,"y":1}],"b":{"a":"x","z":1}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if got, _ := audit.CanonicalDetails(nil); got != "{}" {
		t.Fatalf("nil details %q", got)
	}
	if _, err := audit.CanonicalDetails(map[string]any{"big": strings.Repeat("x", audit.MaxDetails)}); err == nil {
		t.Fatal("oversized details accepted")
	}
	if _, err := audit.CanonicalDetails(map[string]any{"f": func() {}}); err == nil {
		t.Fatal("unencodable details accepted")
	}
}

func TestHashUnambiguous(t *testing.T) {
	// Moving bytes from one field to its neighbour must change the hash.
	a := audit.Entry{Seq: 1, At: time.UnixMilli(1), Actor: "ab", Org: "c", Action: "x"}
	b := a
	b.Actor, b.Org = "a", "bc"
	ha, _ := audit.ComputeHash(a)
	hb, _ := audit.ComputeHash(b)
	if ha == hb {
		t.Fatal("field boundary not in the hash")
	}
}

func TestLongFieldsCapped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(db, 0)
		long := strings.Repeat("Điện Biên ", 1000) // multi-byte runes across the cut
		e, err := l.Append(context.Background(), db.Q(), audit.Entry{Actor: long, Action: "auth.login", Object: long})
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Actor) > audit.MaxField+len("…") || !strings.HasSuffix(e.Actor, "…") || !utf8.ValidString(e.Actor) {
			t.Fatalf("actor not capped: %d bytes", len(e.Actor))
		}
		list, _, err := audit.List(context.Background(), db.Q(), audit.Filter{Limit: 5000})
		if err != nil || len(list) != 1 || list[0].Actor != e.Actor {
			t.Fatalf("stored actor differs: %v", err)
		}
		if rep := mustVerify(t, db); !rep.OK {
			t.Fatal(rep)
		}
	})
}
