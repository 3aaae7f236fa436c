package playback_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type tl struct {
	Timelines []playback.RecordingTimeline `json:"timelines"`
}

func ms(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

// A recorded simulated camera, end to end through the API: timeline, MP4
// playback from mid-segment with range requests (ffprobe as the
// independent client), HLS VOD, export with a signed manifest verified
// offline, tamper detection, access decisions and the audit trail.
func TestPlaybackAndExportEndToEnd(t *testing.T) {
	recordtest.NeedFFprobe(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam-traffic"}, {ID: "cam-urban"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	s := apptest.Start(t, storetest.SQLite(t), apptest.Options{Mutate: func(c *config.Config) {
		c.Recording.SegmentLength = 2 * time.Second
	}})
	s.SeedWorld(map[string][2]string{
		"cam-traffic": {sm.URL("cam-traffic", "main"), sm.URL("cam-traffic", "sub")},
		"cam-urban":   {sm.URL("cam-urban", "main"), sm.URL("cam-urban", "sub")},
	})
	s.User("admin", "so-khcn", "admin", "auditor")
	s.User("police", "cong-an", "operator")
	admin := s.Login("admin")
	police := s.Login("police")

	// Wait for 5 s of footage (the recorder starts with the site).
	t0 := time.Now().Add(-time.Minute)
	out := waitRecorded(t, s, admin, "cam-traffic", t0, 5*time.Second)
	span := out.Timelines[0].Spans[0]
	if len(out.Timelines[0].Spans) != 1 {
		t.Fatalf("a continuously sending camera has one span: %+v", out.Timelines[0])
	}

	// The police may play this camera back (function match), through a
	// stream token as VLC or ffplay would.
	var tok struct{ Token string }
	if st := police.Do("POST", "/api/v1/cameras/cam-traffic/stream-token", map[string]string{}, &tok); st != 200 {
		t.Fatalf("stream token: %d", st)
	}
	from, to := span.From.Add(1300*time.Millisecond), span.From.Add(4100*time.Millisecond) // mid-segment, across a boundary
	playURL := fmt.Sprintf("%s/api/v1/cameras/cam-traffic/playback.mp4?from=%s&to=%s&token=%s", s.Base, ms(from), ms(to), url.QueryEscape(tok.Token))
	res, err := http.Get(playURL)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "video/mp4" || res.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("playback: %d %v", res.StatusCode, res.Header)
	}
	start, _ := time.Parse(time.RFC3339Nano, res.Header.Get("X-Vigil-Start"))
	end, _ := time.Parse(time.RFC3339Nano, res.Header.Get("X-Vigil-End"))
	if start.After(from) || from.Sub(start) > 1100*time.Millisecond || end.Before(to.Add(-40*time.Millisecond)) {
		t.Fatalf("playback covers %s..%s for %s..%s", start, end, from, to)
	}
	dur, frames, err := recordtest.Probe(t, playURL)
	if err != nil {
		t.Fatalf("ffprobe refuses the playback URL: %v", err)
	}
	if want := end.Sub(start).Seconds(); math.Abs(dur-want) > 0.041 || math.Abs(float64(frames)-want*25) > 1.5 {
		t.Fatalf("ffprobe: %.3f s %d frames, want %.3f s", dur, frames, want)
	}
	// Range requests give exactly the bytes of the whole.
	req, _ := http.NewRequest("GET", playURL, nil)
	req.Header.Set("Range", "bytes=1000-5999")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 206 || !bytes.Equal(part, full[1000:6000]) {
		t.Fatalf("range: %d, %d bytes, equal=%v", res.StatusCode, len(part), bytes.Equal(part, full[1000:6000]))
	}

	// HLS VOD of the same camera.
	hlsURL := fmt.Sprintf("%s/api/v1/cameras/cam-traffic/playback.m3u8?from=%s&to=%s&token=%s", s.Base, ms(span.From), ms(span.To), url.QueryEscape(tok.Token))
	if _, n, err := recordtest.Probe(t, hlsURL, "-allowed_extensions", "ALL", "-protocol_whitelist", "http,tcp,file,crypto"); err != nil || n < 25 {
		t.Fatalf("ffprobe refuses the HLS VOD: %v (%d frames)", err, n)
	}

	// No playback of a camera outside the agency's functions; no export
	// without a grant.
	if st := police.Do("GET", "/api/v1/recordings/timeline?camera_ids=cam-urban&from="+ms(t0)+"&to="+ms(time.Now()), nil, nil); st != 403 {
		t.Fatalf("police timeline of cam-urban: %d", st)
	}
	exportReq := map[string]any{"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano), "purpose": "Điều tra vụ va chạm giao thông",
		"requester": map[string]string{"name": "Nguyễn Văn A", "organisation": "Công an tỉnh", "document": "123/CV-CAT"}}
	if st := police.Do("POST", "/api/v1/cameras/cam-traffic/exports", exportReq, nil); st != 403 {
		t.Fatalf("police export without grant: %d", st)
	}
	// Bad input: 4xx with code and field.
	var apiErr struct{ Code, Message, Field string }
	bad := map[string]any{"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano), "purpose": "x",
		"requester": map[string]string{"name": "A", "organisation": "B", "document": ""}}
	if st := admin.Do("POST", "/api/v1/cameras/cam-traffic/exports", bad, &apiErr); st != 422 || apiErr.Field == "" || apiErr.Message == "" {
		t.Fatalf("export without requester document: %d %+v", st, apiErr)
	}
	if st := admin.Do("GET", "/api/v1/cameras/cam-traffic/playback.mp4?from=yesterday&to=1", nil, &apiErr); st != 422 || apiErr.Field != "from" {
		t.Fatalf("bad from: %d %+v", st, apiErr)
	}
	// No path in a request reaches outside the storage folder.
	for _, p := range []string{"/api/v1/recordings/segments/..%2F..%2F..%2Fetc%2Fpasswd/media.mp4", "/api/v1/recordings/segments/%2e%2e/media.mp4",
		"/api/v1/cameras/..%2F..%2Fetc/playback.mp4?from=1&to=2", "/api/v1/exports/..%2F..%2Fvigil.db/file", "/api/v1/exports/ex-..%2F..%2F..%2F..%2F..%2Fetc/manifest"} {
		st, body, _ := admin.Raw("GET", p, "", nil)
		if st < 400 || st >= 500 || bytes.Contains(body, []byte("root:")) {
			t.Fatalf("%s: %d %q", p, st, body)
		}
	}

	// Export as the department.
	var ex playback.EvidenceExport
	if st := admin.Do("POST", "/api/v1/cameras/cam-traffic/exports", exportReq, &ex); st != 201 {
		t.Fatalf("export: %d", st)
	}
	dir := t.TempDir()
	file, man := filepath.Join(dir, "clip.mp4"), filepath.Join(dir, "clip.manifest.json")
	for part, dst := range map[string]string{"file": file, "manifest": man} {
		st, body, _ := admin.Raw("GET", "/api/v1/exports/"+ex.ID+"/"+part, "", nil)
		if st != 200 {
			t.Fatalf("download %s: %d", part, st)
		}
		if err := os.WriteFile(dst, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	v := playback.VerifyFiles(file, man, s.App.KeyID)
	if !v.OK || v.Payload.Purpose != "Điều tra vụ va chạm giao thông" || v.Payload.Requester.Document != "123/CV-CAT" ||
		v.Payload.Performer.Name != "admin" || v.Payload.Site.ID != "test-site" || v.Payload.Camera.ID != "cam-traffic" {
		t.Fatalf("verify: %+v", v)
	}
	dur, _, err = recordtest.Probe(t, file)
	if err != nil || math.Abs(dur-float64(v.Payload.DurationMS)/1000) > 0.041 {
		t.Fatalf("ffprobe of the export: %v %.3f vs %d ms", err, dur, v.Payload.DurationMS)
	}
	// One byte changed in the MP4: verify fails. Same for the manifest.
	data, _ := os.ReadFile(file)
	data[len(data)/2] ^= 1
	_ = os.WriteFile(file, data, 0o600)
	if v := playback.VerifyFiles(file, man, ""); v.OK || !strings.Contains(v.Problem, "FILE CHANGED") {
		t.Fatalf("a changed byte must fail verification: %+v", v)
	}
	data[len(data)/2] ^= 1
	_ = os.WriteFile(file, data, 0o600)
	mdata, _ := os.ReadFile(man)
	_ = os.WriteFile(man, bytes.Replace(mdata, []byte("123/CV-CAT"), []byte("124/CV-CAT"), 1), 0o600)
	if v := playback.VerifyFiles(file, man, ""); v.OK || !strings.Contains(v.Problem, "SIGNATURE") {
		t.Fatalf("a changed manifest must fail verification: %+v", v)
	}
	// The police cannot download it without the managing agency's consent…
	if st, _, _ := police.Raw("GET", "/api/v1/exports/"+ex.ID+"/file", "", nil); st != 403 {
		t.Fatalf("police download without consent: %d", st)
	}

	// The audit log has the playback, the extraction (purpose, requester)
	// and the downloads.
	es, _, err := audit.List(context.Background(), s.App.DB.Q(), audit.Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range es {
		switch {
		case e.Action == "playback.start" && e.Actor == "police" && e.Details["protocol"] == "mp4":
			seen["play"] = true
		case e.Action == "playback.start" && e.Details["protocol"] == "hls":
			seen["hls"] = true
		case e.Action == "export.create" && e.Details["purpose"] == "Điều tra vụ va chạm giao thông" && e.Details["requester_doc"] == "123/CV-CAT":
			seen["export"] = true
		case e.Action == "export.download" && e.Details["part"] == "file":
			seen["download"] = true
		case e.Action == "access.denied" && e.Actor == "police":
			seen["denied"] = true
		}
	}
	for _, k := range []string{"play", "hls", "export", "download", "denied"} {
		if !seen[k] {
			t.Fatalf("audit lacks %s: %v", k, seen)
		}
	}
}

// waitRecorded waits until camera has d of footage in its first span since
// t0 (the recorder starts with the site) and returns the timeline.
func waitRecorded(t *testing.T, s *apptest.Site, c *apptest.Client, camera string, t0 time.Time, d time.Duration) tl {
	t.Helper()
	var out tl
	recordtest.WaitFor(t, d.String()+" recorded", func() bool {
		s.App.Recorder.Flush()
		if st := c.Do("GET", "/api/v1/recordings/timeline?camera_ids="+camera+"&from="+ms(t0)+"&to="+ms(time.Now().Add(time.Minute)), nil, &out); st != 200 {
			t.Fatalf("timeline: %d", st)
		}
		sp := out.Timelines[0].Spans
		return len(sp) > 0 && sp[0].To.Sub(sp[0].From) >= d
	})
	return out
}
