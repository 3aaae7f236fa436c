package federation_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
)

// footageAcrossTiers plays back and extracts lower site b's recording of
// cam-b1 from tier 1, which keeps no copy of it: the timeline and the MP4
// (whole, and by Range across a chunk boundary; ffprobe reads it) come from
// site B over the link; the export is made, signed and locked at site B,
// copied into tier 1's evidence store, verifies against site B's key, and
// is audited at both sites; releasing it at tier 1 releases B's lock. HLS
// VOD lists B's segments and reads each through tier 1.
func footageAcrossTiers(t *testing.T, t1, b *apptest.Site, viewer *apptest.Client, viewerID string) {
	t.Helper()
	ctx := context.Background()
	since := time.Now().Add(-10 * time.Minute)
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM record_segments WHERE camera_id = 'cam-b1'`); n != 0 {
		t.Fatalf("tier 1 recorded %d segments of a lower site's camera", n)
	}

	// The timeline, from site B.
	var last playback.RecordedSpan
	waitFor(t, "12 s of cam-b1 recorded at site B, seen from tier 1", func() bool {
		var tl struct {
			Timelines []playback.RecordingTimeline `json:"timelines"`
		}
		st := viewer.Do("GET", fmt.Sprintf("/api/v1/recordings/timeline?camera_ids=cam-b1&from=%d&to=%d", since.UnixMilli(), time.Now().UnixMilli()), nil, &tl)
		if st != 200 || len(tl.Timelines) != 1 || tl.Timelines[0].CameraID != "cam-b1" {
			t.Fatalf("timeline of cam-b1 at tier 1: status %d, %+v", st, tl)
		}
		sp := tl.Timelines[0].Spans
		if len(sp) == 0 {
			return false
		}
		last = sp[len(sp)-1]
		return last.To.Sub(last.From) >= 12*time.Second
	})
	from, to := last.To.Add(-11*time.Second), last.To.Add(-time.Second)
	rng := fmt.Sprintf("from=%d&to=%d", from.UnixMilli(), to.UnixMilli())

	// The MP4, read from site B as tier 1's player asks.
	st, whole, hdr := viewer.Raw("GET", "/api/v1/cameras/cam-b1/playback.mp4?"+rng, "", nil)
	if st != 200 || hdr.Get("X-Vigil-Origin-Site") != "site-b" || hdr.Get("Content-Type") != "video/mp4" {
		t.Fatalf("playback of cam-b1 at tier 1: status %d, headers %v, %q", st, hdr, truncate(whole))
	}
	if cl, _ := strconv.Atoi(hdr.Get("Content-Length")); cl != len(whole) || len(whole) < 600_000 {
		t.Fatalf("MP4 of %d bytes (Content-Length %q); want a whole file over one chunk", len(whole), hdr.Get("Content-Length"))
	}
	part := viewer.WithHeader("Range", "bytes=1000-600999")
	st, piece, _ := part.Raw("GET", "/api/v1/cameras/cam-b1/playback.mp4?"+rng, "", nil)
	if st != 206 || !bytes.Equal(piece, whole[1000:601000]) {
		t.Fatalf("Range request across a chunk: status %d, %d bytes, equal %v", st, len(piece), bytes.Equal(piece, whole[1000:min(601000, len(whole))]))
	}
	dir := t.TempDir()
	mp4 := filepath.Join(dir, "cam-b1.mp4")
	if err := os.WriteFile(mp4, whole, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("ffprobe"); err == nil {
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height:format=duration", "-of", "json", mp4).Output()
		var probe struct {
			Streams []struct {
				Codec  string `json:"codec_name"`
				Width  int    `json:"width"`
				Height int    `json:"height"`
			} `json:"streams"`
			Format struct {
				Duration string `json:"duration"`
			} `json:"format"`
		}
		if err != nil || json.Unmarshal(out, &probe) != nil || len(probe.Streams) != 1 || probe.Streams[0].Codec != "h264" || probe.Streams[0].Width != 1280 {
			t.Fatalf("ffprobe of the MP4 played at tier 1: %v %s", err, out)
		}
		if d, _ := strconv.ParseFloat(probe.Format.Duration, 64); d < 9 || d > 13 {
			t.Fatalf("MP4 of %s s, asked for 10 s", probe.Format.Duration)
		}
	} else if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
		t.Fatal("ffprobe is required (VIGIL_REQUIRE_TOOLS=1) but not on PATH")
	} else {
		t.Log("!!! SKIPPING the ffprobe check of footage played across tiers: ffprobe not on PATH")
	}
	// Audited at both sites: tier 1 names the origin, site B the tier-1 user.
	tier1 := t1.App.Cfg.Site.ID
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'playback.start' AND object = 'camera/cam-b1'
		AND actor_id = ? AND details LIKE '%"origin_site":"site-b"%'`, viewerID); n != 1 {
		t.Fatalf("%d playback entries at tier 1, want 1 (the Range request is not a new playback)", n)
	}
	if n := count(t, b.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'playback.start' AND object = 'camera/cam-b1' AND actor_id = ?`,
		tier1+"/"+viewerID); n != 1 {
		t.Fatalf("%d playback entries at site B for the tier-1 user, want 1 (one clip for both requests)", n)
	}

	// An export tier 1 cannot keep (here: site B's manifest key is not the
	// one tier 1 pinned for it) is refused, and site B releases the lock of
	// the copy nobody can reach.
	body := map[string]any{"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano), "purpose": "Xác minh vụ va chạm giao thông",
		"requester": playback.EvidenceRequester{Name: "Đại úy Nguyễn Văn A", Organisation: "Công an huyện B", Document: "CV 123/CAH"}}
	if _, err := t1.App.DB.Q().Exec(ctx, `UPDATE federation_sites SET evidence_key_id = 'ffffffffffffffff' WHERE site_id = 'site-b'`); err != nil {
		t.Fatal(err)
	}
	var refusal struct{ Code string }
	if st := viewer.Do("POST", "/api/v1/cameras/cam-b1/exports", body, &refusal); st != 502 || refusal.Code != "site_failed" {
		t.Fatalf("export signed with an unpinned key: status %d %+v", st, refusal)
	}
	orphans, err := b.App.Playback.List(ctx, "cam-b1", 10)
	if err != nil || len(orphans) != 1 || orphans[0].Locked || !playback.PerformedFor(orphans[0], tier1) {
		t.Fatalf("site B's copy of the refused export: %v %+v", err, orphans)
	}
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM playback_exports`); n != 0 {
		t.Fatalf("tier 1 kept %d exports of a refused import", n)
	}
	if _, err := t1.App.DB.Q().Exec(ctx, `UPDATE federation_sites SET evidence_key_id = '' WHERE site_id = 'site-b'`); err != nil {
		t.Fatal(err)
	}

	// The export: made at site B, copied to tier 1.
	var ex playback.EvidenceExport
	if st := viewer.Do("POST", "/api/v1/cameras/cam-b1/exports", body, &ex); st != 201 || ex.OriginSite != "site-b" || !ex.Locked {
		t.Fatalf("export of cam-b1 at tier 1: status %d, %+v", st, ex)
	}
	st, file, _ := viewer.Raw("GET", "/api/v1/exports/"+ex.ID+"/file", "", nil)
	sum := sha256.Sum256(file)
	if st != 200 || int64(len(file)) != ex.Bytes || hex.EncodeToString(sum[:]) != ex.SHA256 {
		t.Fatalf("export file at tier 1: status %d, %d bytes, sha %x; export %+v", st, len(file), sum, ex)
	}
	st, man, _ := viewer.Raw("GET", "/api/v1/exports/"+ex.ID+"/manifest", "", nil)
	if st != 200 {
		t.Fatalf("manifest: status %d", st)
	}
	fp, mp := filepath.Join(dir, ex.ID+".mp4"), filepath.Join(dir, ex.ID+".manifest.json")
	if os.WriteFile(fp, file, 0o600) != nil || os.WriteFile(mp, man, 0o600) != nil {
		t.Fatal("write export")
	}
	v := playback.VerifyFiles(fp, mp, b.App.Playback.KeyID())
	if !v.OK || v.Payload.Site.ID != "site-b" || v.Payload.Performer.ID != tier1+"/"+viewerID || v.Payload.Purpose != "Xác minh vụ va chạm giao thông" {
		t.Fatalf("export made across tiers does not verify against site B's key: %+v", v)
	}
	if v := playback.VerifyFiles(fp, mp, t1.App.Playback.KeyID()); v.OK {
		t.Fatal("an export signed by site B verified against tier 1's key")
	}
	atB, err := b.App.Playback.Get(ctx, ex.ID)
	if err != nil || !atB.Locked || atB.SHA256 != ex.SHA256 {
		t.Fatalf("export at site B: %v %+v", err, atB)
	}
	if n := count(t, b.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'export.create' AND actor_id = ? AND details LIKE ?`,
		tier1+"/"+viewerID, "%"+ex.ID+"%"); n != 1 {
		t.Fatalf("%d export entries at site B", n)
	}
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'export.create' AND actor_id = ? AND details LIKE ?`,
		viewerID, `%"origin_site":"site-b"%`); n != 1 {
		t.Fatalf("%d export entries at tier 1", n)
	}
	var pinned string
	if err := t1.App.DB.Q().QueryRow(ctx, `SELECT evidence_key_id FROM federation_sites WHERE site_id = 'site-b'`).Scan(&pinned); err != nil || pinned != b.App.Playback.KeyID() {
		t.Fatalf("site B's evidence key pinned at tier 1: %q (%v), want %s", pinned, err, b.App.Playback.KeyID())
	}
	// Site B's own entries reach tier 1's copy of its log.
	waitFor(t, "site B's footage entries at tier 1", func() bool {
		return count(t, t1.App.DB, `SELECT COUNT(*) FROM federation_audit WHERE site_id = 'site-b' AND action IN ('playback.start', 'export.create')`) >= 2
	})

	// Releasing the export at tier 1 releases site B's lock.
	if st := viewer.Do("POST", "/api/v1/exports/"+ex.ID+"/release", nil, nil); st != 204 {
		t.Fatalf("release: status %d", st)
	}
	if atB, _ := b.App.Playback.Get(ctx, ex.ID); atB.Locked {
		t.Fatal("site B still locks the released export")
	}
	var again playback.EvidenceExport
	if viewer.Do("GET", "/api/v1/exports/"+ex.ID, nil, &again); again.Locked {
		t.Fatal("tier 1 still shows the released export as locked")
	}

	// HLS VOD: site B's playlist of its finished segments, each segment
	// read through tier 1 (byte ranges, as players ask).
	var pl string
	waitFor(t, "a finished segment of cam-b1 at site B, listed at tier 1", func() bool {
		st, body, _ := viewer.Raw("GET", fmt.Sprintf("/api/v1/cameras/cam-b1/playback.m3u8?from=%d&to=%d", since.UnixMilli(), time.Now().UnixMilli()), "", nil)
		if st == 404 {
			return false // nothing finished yet
		}
		if st != 200 {
			t.Fatalf("HLS playlist of cam-b1 at tier 1: status %d %s", st, truncate(body))
		}
		pl = string(body)
		return true
	})
	m := regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@0"\n#EXTINF:[0-9.]+,\n#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)\n`).FindStringSubmatch(pl)
	if m == nil || m[1] != m[5] || !strings.HasPrefix(m[1], "/api/v1/cameras/cam-b1/remote-segments/") {
		t.Fatalf("playlist at tier 1 does not point at tier 1's segment route:\n%s", pl)
	}
	segID := strings.TrimSuffix(strings.TrimPrefix(m[1], "/api/v1/cameras/cam-b1/remote-segments/"), "/media.mp4")
	g, err := record.GetSegment(ctx, b.App.DB.Q(), segID)
	if err != nil || g.CameraID != "cam-b1" {
		t.Fatalf("segment %s at site B: %v %+v", segID, err, g)
	}
	p, err := b.App.Recorder.SegmentPath(g.Storage, g.Path)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	initLen, _ := strconv.Atoi(m[2])
	mediaLen, _ := strconv.Atoi(m[3])
	mediaOff, _ := strconv.Atoi(m[4])
	for _, r := range [][2]int{{0, initLen}, {mediaOff, mediaLen}} {
		st, got, _ := viewer.WithHeader("Range", fmt.Sprintf("bytes=%d-%d", r[0], r[0]+r[1]-1)).Raw("GET", m[1], "", nil)
		if st != 206 || !bytes.Equal(got, onDisk[r[0]:r[0]+r[1]]) {
			t.Fatalf("segment bytes %d+%d through tier 1: status %d, %d bytes, equal %v", r[0], r[1], st, len(got), bytes.Equal(got, onDisk[r[0]:min(len(onDisk), r[0]+r[1])]))
		}
	}
	if n := count(t, b.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'playback.start' AND actor_id = ? AND details LIKE '%"protocol":"hls"%'`,
		tier1+"/"+viewerID); n < 1 {
		t.Fatal("no HLS playback entry at site B for the tier-1 user")
	}
	// An independent HLS client plays it, with a stream token in the URLs.
	if _, err := exec.LookPath("ffprobe"); err == nil {
		var tok struct {
			Token string `json:"token"`
		}
		if st := viewer.Do("POST", "/api/v1/cameras/cam-b1/stream-token", map[string]string{"variant": "main"}, &tok); st != 200 {
			t.Fatalf("stream token: %d", st)
		}
		u := fmt.Sprintf("%s/api/v1/cameras/cam-b1/playback.m3u8?token=%s&from=%d&to=%d", t1.Base, tok.Token, since.UnixMilli(), time.Now().UnixMilli())
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", u).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "h264,1280,720") {
			t.Fatalf("ffprobe of tier 1's HLS of a lower site's camera: %v %s", err, out)
		}
	}
	// A segment that is not that camera's is refused by the lower site.
	if st, _, _ := viewer.Raw("GET", "/api/v1/cameras/cam-b1/remote-segments/0123456789abcdef01234567/media.mp4", "", nil); st != 404 {
		t.Fatalf("unknown segment: status %d, want 404", st)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
