package federation

import (
	"strings"
	"testing"
)

// A push secret opens only the camera and variant it was made for, only for
// the site it was given to, and only until tier 1 withdraws it.
func TestRelaySecretScope(t *testing.T) {
	s := New(Deps{})
	s.relays.m = map[relayKey]relayGrant{
		{"cam-b1", VariantMain}: {site: "site-b", token: "secret-b1"},
		{"cam-b1", VariantSub}:  {site: "site-b", token: "secret-b1-sub"},
	}
	for _, v := range []string{"", VariantMain} {
		if site, ok := s.CheckRelayPublish("cam-b1", v, "site-b", "secret-b1"); !ok || site != "site-b" {
			t.Fatalf("own secret refused for %q: %q %v", v, site, ok)
		}
	}
	if site, ok := s.CheckRelayPublish("cam-b1", VariantSub, "site-b", "secret-b1-sub"); !ok || site != "site-b" {
		t.Fatalf("own sub secret refused: %q %v", site, ok)
	}
	for _, c := range []struct{ cam, v, user, pass string }{
		{"cam-a1", "main", "site-b", "secret-b1"},     // another camera
		{"cam-b1", "main", "site-a", "secret-b1"},     // another site
		{"cam-b1", "main", "site-b", "secret-b2"},     // wrong secret
		{"cam-b1", "main", "site-b", ""},              // none
		{"cam-b1", "sub", "site-b", "secret-b1"},      // main's secret for sub
		{"cam-b1", "main", "site-b", "secret-b1-sub"}, // sub's secret for main
		{"cam-b1", "hd", "site-b", "secret-b1"},       // no such variant
	} {
		if _, ok := s.CheckRelayPublish(c.cam, c.v, c.user, c.pass); ok {
			t.Fatalf("accepted %+v", c)
		}
	}
	// Releasing the sub leaves main's secret alone, and the other way round.
	if err := s.ReleaseRelay(t.Context(), "cam-b1", VariantSub); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.CheckRelayPublish("cam-b1", VariantSub, "site-b", "secret-b1-sub"); ok {
		t.Fatal("a withdrawn sub secret still works")
	}
	if _, ok := s.CheckRelayPublish("cam-b1", VariantMain, "site-b", "secret-b1"); !ok {
		t.Fatal("releasing the sub withdrew main's secret")
	}
	if err := s.ReleaseRelay(t.Context(), "cam-b1", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.CheckRelayPublish("cam-b1", VariantMain, "site-b", "secret-b1"); ok {
		t.Fatal("a withdrawn secret still works")
	}
	var nilSvc *Service
	if _, ok := nilSvc.CheckRelayPublish("cam-b1", "", "site-b", "secret-b1"); ok {
		t.Fatal("nil service accepted a secret")
	}
}

func TestPushPath(t *testing.T) {
	if p := pushPath("cam-b1", VariantMain); p != "/push/cam-b1" {
		t.Fatalf("main push path %q", p)
	}
	if p := pushPath("cam-b1", VariantSub); p != "/push/cam-b1/sub" {
		t.Fatalf("sub push path %q", p)
	}
}

func TestDecodeRelayRequest(t *testing.T) {
	for _, ok := range []string{
		// A request without a variant (a tier 1 of before variants) is main.
		`{"v":1,"op":"relay","camera":"cam-b1","url":"rtsp://127.0.0.1:8554/push/cam-b1","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay","camera":"cam-b1","variant":"main","url":"rtsp://127.0.0.1:8554/push/cam-b1","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay","camera":"cam-b1","variant":"sub","url":"rtsp://127.0.0.1:8554/push/cam-b1/sub","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay_stop","camera":"cam-b1"}`,
		`{"v":1,"op":"relay_stop","camera":"cam-b1","variant":"sub"}`,
	} {
		r, err := DecodeAskRequest([]byte(ok))
		if err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
		if v, _ := relayVariant(r.Variant); strings.Contains(ok, `"sub"`) != (v == VariantSub) {
			t.Fatalf("%s: variant %q", ok, r.Variant)
		}
	}
	for _, bad := range []string{
		`{"v":1,"op":"relay","camera":"cam-b1","url":"http://h/push/cam-b1","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay","camera":"cam-b1","url":"rtsp://u:p@h/push/cam-b1","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay","camera":"a/b","url":"rtsp://h/push/x","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay","camera":"cam-b1","url":"rtsp://h/push/cam-b1","user":"site-b"}`,
		`{"v":1,"op":"relay","camera":"cam-b1","variant":"hd","url":"rtsp://h/push/cam-b1/hd","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay_stop","camera":"cam-b1","variant":"Sub"}`,
		`{"v":1,"op":"relay_stop","camera":""}`,
	} {
		if _, err := DecodeAskRequest([]byte(bad)); err == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
}
