package playback_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// signedAt makes the manifest another site ("site-b") would have made for
// file, signed with key.
func signedAt(t *testing.T, key ed25519.PrivateKey, site, id string, file []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(file)
	now := time.Now().UTC()
	man, err := playback.Sign(playback.Payload{ExportID: id, Site: playback.SiteRef{ID: site, Name: "Huyện B"},
		Camera: playback.CameraRef{ID: "cam-b1", Name: "Cổng", SystemID: "huyen-b"},
		From:   now.Add(-time.Minute).Format(time.RFC3339Nano), To: now.Format(time.RFC3339Nano), Gaps: []playback.RecordedSpan{},
		File:      playback.FileRef{Name: id + ".mp4", Bytes: int64(len(file)), SHA256: hex.EncodeToString(sum[:])},
		Performer: playback.EvidencePerson{ID: "tinh/u-1", Name: "nva", Org: "ca-tinh"}, Purpose: "điều tra",
		Requester: playback.EvidenceRequester{Name: "A", Organisation: "CA", Document: "CV 1"}, LockID: "lock-at-b"},
		key, playback.KeyIDForTest(key.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	return man
}

func exportID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "ex-" + hex.EncodeToString(b[:])
}

// TestImport: an export made at another site is kept only if its manifest
// is signed, names that site and matches the file byte for byte, with the
// key the caller trusts; a kept one is audited here and mirrors the
// origin's lock.
func TestImport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		_, siteKey, _ := ed25519.GenerateKey(nil)
		_, bKey, _ := ed25519.GenerateKey(nil)
		lg := audit.New(audit.Options{DB: db, Key: siteKey, KeyID: "t1"})
		dir := t.TempDir()
		svc, err := playback.New(playback.Options{Dir: dir}, db, lg, nil, siteKey, "t1")
		if err != nil {
			t.Fatal(err)
		}
		file := bytes.Repeat([]byte("mp4 "), 5000)
		me := playback.EvidencePerson{ID: "u-1", Name: "nva", Org: "ca-tinh"}
		imp := func(origin string, man, data []byte, trust func(string) error) (playback.EvidenceExport, error) {
			return svc.Import(ctx, playback.ImportRequest{Origin: origin, Manifest: man, File: bytes.NewReader(data), Performer: me,
				Remote: "127.0.0.1", TrustKey: trust})
		}
		bad := []struct {
			name   string
			origin string
			man    []byte
			data   []byte
			trust  func(string) error
		}{
			{"another site's manifest", "site-a", signedAt(t, bKey, "site-b", exportID(), file), file, nil},
			{"a changed byte", "site-b", signedAt(t, bKey, "site-b", exportID(), file), append([]byte("X"), file[1:]...), nil},
			{"a shorter file", "site-b", signedAt(t, bKey, "site-b", exportID(), file), file[:len(file)-1], nil},
			{"a longer file", "site-b", signedAt(t, bKey, "site-b", exportID(), file), append(bytes.Clone(file), '!'), nil},
			{"an untrusted key", "site-b", signedAt(t, bKey, "site-b", exportID(), file), file, func(string) error { return errors.New("not pinned") }},
			{"a changed manifest", "site-b", bytes.Replace(signedAt(t, bKey, "site-b", exportID(), file), []byte("điều tra"), []byte("dieu tra"), 1), file, nil},
		}
		for _, c := range bad {
			if _, err := imp(c.origin, c.man, c.data, c.trust); !errors.Is(err, playback.ErrBadImport) {
				t.Fatalf("%s: %v, want ErrBadImport", c.name, err)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
			t.Fatalf("refused imports left files: %v", left)
		}

		id := exportID()
		man := signedAt(t, bKey, "site-b", id, file)
		var seenKey string
		ex, err := imp("site-b", man, file, func(k string) error { seenKey = k; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if ex.ID != id || ex.OriginSite != "site-b" || !ex.Locked || ex.Performer != me || seenKey != playback.KeyIDForTest(bKey.Public().(ed25519.PublicKey)) {
			t.Fatalf("imported %+v (key %s)", ex, seenKey)
		}
		got, err := svc.Get(ctx, id)
		if err != nil || got.OriginSite != "site-b" || !got.Locked || got.LockID != "" {
			t.Fatalf("stored %+v, %v", got, err)
		}
		p, _ := svc.FilePath(got)
		if v := playback.VerifyFiles(p, filepath.Join(dir, id+".manifest.json"), seenKey); !v.OK {
			t.Fatalf("stored copy does not verify: %s", v.Problem)
		}
		if _, err := imp("site-b", man, file, nil); !errors.Is(err, playback.ErrBadImport) {
			t.Fatalf("second import of %s: %v", id, err)
		}
		if err := svc.MarkOriginReleased(ctx, got, me, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if got, _ := svc.Get(ctx, id); got.Locked {
			t.Fatal("still locked after the origin released it")
		}
		var actions []string
		rows, err := db.Q().Query(ctx, `SELECT action, details FROM audit_log ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a, d string
			if err := rows.Scan(&a, &d); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(d, `"origin_site":"site-b"`) {
				t.Fatalf("%s entry without its origin: %s", a, d)
			}
			actions = append(actions, a)
		}
		rows.Close()
		if fmt.Sprint(actions) != "[export.create export.release]" {
			t.Fatalf("audit: %v", actions)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
	})
}
