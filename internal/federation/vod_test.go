package federation

import "testing"

// A push secret opens only the camera it was made for, only for the site it
// was given to, and only until tier 1 withdraws it.
func TestRelaySecretScope(t *testing.T) {
	s := New(Deps{})
	s.relays.m = map[string]relayGrant{"cam-b1": {site: "site-b", token: "secret-b1"}}
	if site, ok := s.CheckRelayPublish("cam-b1", "site-b", "secret-b1"); !ok || site != "site-b" {
		t.Fatalf("own secret refused: %q %v", site, ok)
	}
	for _, c := range []struct{ cam, user, pass string }{
		{"cam-a1", "site-b", "secret-b1"}, // another camera
		{"cam-b1", "site-a", "secret-b1"}, // another site
		{"cam-b1", "site-b", "secret-b2"}, // wrong secret
		{"cam-b1", "site-b", ""},          // none
	} {
		if _, ok := s.CheckRelayPublish(c.cam, c.user, c.pass); ok {
			t.Fatalf("accepted %+v", c)
		}
	}
	if err := s.ReleaseRelay(t.Context(), "cam-b1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.CheckRelayPublish("cam-b1", "site-b", "secret-b1"); ok {
		t.Fatal("a withdrawn secret still works")
	}
	var nilSvc *Service
	if _, ok := nilSvc.CheckRelayPublish("cam-b1", "site-b", "secret-b1"); ok {
		t.Fatal("nil service accepted a secret")
	}
}

func TestDecodeRelayRequest(t *testing.T) {
	ok := `{"v":1,"op":"relay","camera":"cam-b1","url":"rtsp://127.0.0.1:8554/push/cam-b1","user":"site-b","password":"x"}`
	if _, err := DecodeAskRequest([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"v":1,"op":"relay","camera":"cam-b1","url":"http://h/push/cam-b1","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay","camera":"cam-b1","url":"rtsp://u:p@h/push/cam-b1","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay","camera":"a/b","url":"rtsp://h/push/x","user":"site-b","password":"x"}`,
		`{"v":1,"op":"relay","camera":"cam-b1","url":"rtsp://h/push/cam-b1","user":"site-b"}`,
		`{"v":1,"op":"relay_stop","camera":""}`,
	} {
		if _, err := DecodeAskRequest([]byte(bad)); err == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
}
