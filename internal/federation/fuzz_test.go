package federation

import (
	"strings"
	"testing"
)

// FuzzParseToken: any input either parses to a canonical token (prefix,
// 43 base64url characters, 32 bytes) or is refused; never a panic.
func FuzzParseToken(f *testing.F) {
	f.Add(newEnrollToken())
	f.Add("vgle1_")
	f.Add(" vgle1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \n")
	f.Add("vgls1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := ParseToken(raw)
		if err != nil {
			return
		}
		if !strings.HasPrefix(tok, tokenPrefix) || len(tok) != len(tokenPrefix)+43 {
			t.Fatalf("accepted %q as %q", raw, tok)
		}
		if again, err := ParseToken(tok); err != nil || again != tok {
			t.Fatalf("not idempotent: %q → %q, %v", tok, again, err)
		}
	})
}

// FuzzDecodeEnvelope: a message from a lower site is either refused or
// well-formed for the site it arrived from: right site, a sequence, a known
// kind with its record, never a classified camera or a stream endpoint.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"v":1,"site":"site-a","seq":1,"kind":"camera","camera":{"id":"cam-1","system_id":"xa","name":"n","kinds":["security"],"purposes":["urban_order"],"area":"road","lat":21,"lon":103,"changed_at":1,"version":1}}`))
	f.Add([]byte(`{"v":1,"site":"site-a","seq":2,"kind":"audit","audit":{"seq":1,"at":"2026-01-01T00:00:00Z","actor_id":"u","actor":"a","org":"o","action":"x","object":"y","outcome":"ok","details":{"n":1.50},"prev_hash":"","hash":"h"}}`))
	f.Add([]byte(`{"v":1,"site":"site-b","seq":3,"kind":"status","status":{"camera_id":"cam-1","online":true}}`))
	f.Add([]byte(`{"v":1,"site":"site-a","seq":4,"kind":"camera","camera":{"id":"c","system_id":"s","classified":true}}`))
	f.Add([]byte(`{"v":1,"site":"site-a","seq":5,"kind":"camera.delete","camera":{"id":"c"}} {}`))
	f.Add([]byte(`{"v":1,"site":"site-a","seq":6,"kind":"camera","camera":{"id":"cam-1","system_id":"xa","name":"n","kinds":["security"],"purposes":["urban_order"],"area":"road","lat":21,"lon":103,"changed_at":1,"version":2,"has_sub":true}}`))
	f.Add([]byte(`{"v":1,"site":"site-a","seq":7,"kind":"camera","camera":{"id":"cam-1","system_id":"xa","has_sub":true,"sub_url":"rtsp://h/sub"}}`))
	f.Add([]byte(`{"v":1,"site":"site-a","seq":8,"kind":"incident","incident":{"id":"inc-0a1b","category":"camera_offline","source":"auto","camera_id":"cam-1","title":"Camera mất tín hiệu","state":"resolved","detected_at":1700000000000,"deadline_at":1700086400000,"resolved_at":1700000100000,"resolved_by":"system","escalation_level":0}}`))
	f.Add([]byte(`{"v":1,"site":"site-a","seq":9,"kind":"incident","incident":{"id":"../x","category":"camera_offline","source":"auto","camera_id":"cam-1","state":"gone","detected_at":5,"deadline_at":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEnvelope(data, "site-a")
		if err != nil {
			return
		}
		if e.Site != "site-a" || e.Seq < 1 || e.V != envelopeVersion {
			t.Fatalf("accepted %+v", e)
		}
		switch e.Kind {
		case KindCamera:
			// has_sub says a sub stream exists, never where: no URL.
			if e.Camera == nil || e.Camera.Classified || e.Camera.MainURL != "" || e.Camera.SubURL != "" || e.Camera.Password != "" || !idRe.MatchString(e.Camera.SystemID) {
				t.Fatalf("accepted camera %+v", e.Camera)
			}
		case KindCameraDelete:
			if e.Camera == nil || !idRe.MatchString(e.Camera.ID) {
				t.Fatal("accepted delete without id")
			}
		case KindStatus:
			if e.Status == nil {
				t.Fatal("accepted status without record")
			}
		case KindAudit:
			if e.Audit == nil || e.Audit.Seq < 1 {
				t.Fatal("accepted audit without entry")
			}
		case KindIncident:
			if e.Incident == nil || e.Incident.Check() != nil || !idRe.MatchString(e.Incident.CameraID) {
				t.Fatalf("accepted incident %+v", e.Incident)
			}
		default:
			t.Fatalf("accepted kind %q", e.Kind)
		}
	})
}

// FuzzDecodeAskRequest: a request from tier 1 is a known operation of the
// current version, or refused.
func FuzzDecodeAskRequest(f *testing.F) {
	f.Add([]byte(`{"v":1,"op":"status"}`))
	f.Add([]byte(`{"v":2,"op":"status"}`))
	f.Add([]byte(`{"v":1,"op":"push"}`))
	f.Add([]byte(`{"v":1,"op":"relay","camera":"cam-b1","url":"rtsp://h:8554/push/cam-b1","user":"site-b","password":"x"}`))
	f.Add([]byte(`{"v":1,"op":"relay","camera":"cam-b1","variant":"sub","url":"rtsp://h:8554/push/cam-b1/sub","user":"site-b","password":"x"}`))
	f.Add([]byte(`{"v":1,"op":"relay_stop","camera":"cam-b1","variant":"sub"}`))
	f.Add([]byte(`{"v":1,"op":"relay_stop","camera":"cam-b1","variant":"../main"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeAskRequest(data)
		if err != nil {
			return
		}
		// The variant is main ("" from a tier 1 of before variants) or sub.
		if r.Variant != "" && r.Variant != VariantMain && r.Variant != VariantSub {
			t.Fatalf("accepted variant %q", r.Variant)
		}
		if r.V != envelopeVersion || (r.Op != "status" && r.Op != "relay" && r.Op != "relay_stop") {
			t.Fatalf("accepted %+v", r)
		}
		if r.Op != "status" && !relayCameraID(r.Camera) {
			t.Fatalf("accepted camera %q", r.Camera)
		}
		if r.Op == "relay" && (r.Password == "" || r.User == "") {
			t.Fatalf("accepted a relay without its secret: %+v", r)
		}
	})
}

// FuzzDecodeFootageRequest: a footage request from tier 1 is a known
// operation with what it needs (a camera and a forward range, a bounded
// read, the tier-1 user whose name goes into this site's audit log), or
// refused.
func FuzzDecodeFootageRequest(f *testing.F) {
	by := `"by":{"site":"tinh","user_id":"u-1","username":"nva","org":"ca-tinh"}`
	f.Add([]byte(`{"v":1,"op":"timeline","camera":"cam-1","from":1,"to":2}`))
	f.Add([]byte(`{"v":1,"op":"clip_open","camera":"cam-1","from":1700000000000,"to":1700000060000,` + by + `}`))
	f.Add([]byte(`{"v":1,"op":"clip_read","id":"cl-0123456789abcdef01234567","off":0,"n":524288}`))
	f.Add([]byte(`{"v":1,"op":"clip_close","id":"cl-0123456789abcdef01234567"}`))
	f.Add([]byte(`{"v":1,"op":"export","camera":"cam-1","from":1,"to":2,"purpose":"p","requester":{"name":"a","organisation":"b","document":"c"},` + by + `}`))
	f.Add([]byte(`{"v":1,"op":"export_read","id":"ex-0123456789abcdef01234567","off":5,"n":1,` + by + `}`))
	f.Add([]byte(`{"v":1,"op":"export_release","id":"ex-0123456789abcdef01234567",` + by + `}`))
	f.Add([]byte(`{"v":1,"op":"clip_read","id":"cl-0123456789abcdef01234567","off":-1,"n":9999999}`))
	f.Add([]byte(`{"v":1,"op":"hls","camera":"cam-1","from":1,"to":2,` + by + `}`))
	f.Add([]byte(`{"v":1,"op":"segment_stat","camera":"cam-1","id":"0123456789abcdef01234567"}`))
	f.Add([]byte(`{"v":1,"op":"segment_read","camera":"cam-1","id":"0123456789abcdef01234567","off":0,"n":4096}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeFootageRequest(data)
		if err != nil {
			return
		}
		if (r.Op == OpExport) != isExport(data) {
			t.Fatalf("export slot chosen wrongly for op %q", r.Op)
		}
		if r.V != envelopeVersion {
			t.Fatalf("accepted version %d", r.V)
		}
		needsBy := false
		switch r.Op {
		case OpTimeline, OpClipOpen, OpExport, OpHLS:
			if !relayCameraID(r.Camera) || r.From <= 0 || r.To <= r.From {
				t.Fatalf("accepted range %+v", r)
			}
			needsBy = r.Op != OpTimeline
		case OpSegmentStat, OpSegmentRead:
			if !relayCameraID(r.Camera) || !validSegmentID(r.ID) {
				t.Fatalf("accepted segment %+v", r)
			}
			if r.Op == OpSegmentRead && (r.Off < 0 || r.N <= 0 || r.N > footageChunk) {
				t.Fatalf("accepted read %+v", r)
			}
			if r.Op == OpExport && (r.Requester == nil || r.Purpose == "") {
				t.Fatalf("accepted an export without purpose or requester: %+v", r)
			}
		case OpClipRead, OpExportRead:
			if r.Off < 0 || r.N <= 0 || r.N > footageChunk {
				t.Fatalf("accepted read %+v", r)
			}
			needsBy = r.Op == OpExportRead
		case OpClipClose:
			if !validClipID(r.ID) {
				t.Fatalf("accepted clip %q", r.ID)
			}
		case OpExportFree:
			needsBy = true
		default:
			t.Fatalf("accepted op %q", r.Op)
		}
		if needsBy && (r.By == nil || !idRe.MatchString(r.By.Site) || r.By.UserID == "" || strings.Contains(r.By.UserID, "/")) {
			t.Fatalf("accepted %s without a proper tier-1 user: %+v", r.Op, r.By)
		}
	})
}

// FuzzRewritePlaylist: a lower site's playlist reaches tier 1's player only
// with tier 1's own segment URLs in it; anything else is refused.
func FuzzRewritePlaylist(f *testing.F) {
	f.Add("#EXTM3U\n#EXT-X-MAP:URI=\"" + segRef + "0123456789abcdef01234567\",BYTERANGE=\"10@0\"\n#EXTINF:1.000,\n" + segRef + "0123456789abcdef01234567\n#EXT-X-ENDLIST\n")
	f.Add("#EXTM3U\nhttps://evil.example/x.mp4\n")
	f.Add("#EXTM3U\n#EXT-X-MAP:URI=\"https://evil.example/init.mp4\"\n")
	f.Add("#EXTM3U\n" + segRef + "../../etc\n")
	f.Add("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"http://x\"\n")
	f.Fuzz(func(t *testing.T, pl string) {
		out, err := rewritePlaylist(pl, func(id string) string { return "/t1/" + id })
		if err != nil {
			return
		}
		if strings.Contains(out, segRef) {
			t.Fatalf("a segment reference left in %q", out)
		}
		for _, line := range strings.Split(out, "\n") {
			if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "/t1/") {
				t.Fatalf("foreign URI line %q", line)
			}
			for _, part := range strings.Split(line, "URI=")[1:] {
				if !strings.HasPrefix(part, `"/t1/`) {
					t.Fatalf("foreign URI attribute in %q", line)
				}
			}
		}
	})
}
