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
			if e.Camera == nil || e.Camera.Classified || e.Camera.MainURL != "" || e.Camera.Password != "" || !idRe.MatchString(e.Camera.SystemID) {
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
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeAskRequest(data)
		if err == nil && (r.V != envelopeVersion || r.Op != "status") {
			t.Fatalf("accepted %+v", r)
		}
	})
}
