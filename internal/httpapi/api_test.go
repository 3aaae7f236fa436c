package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type apiErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
	Details []struct {
		Line  int    `json:"line"`
		Field string `json:"field"`
		Code  string `json:"code"`
	} `json:"details"`
}

type camPage struct {
	Items []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"items"`
	Total int `json:"total"`
}

func ids(p camPage) string {
	var out []string
	for _, c := range p.Items {
		out = append(out, c.ID)
	}
	return strings.Join(out, ",")
}

func count(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Q().QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func newWorld(t *testing.T, db *store.DB) *apptest.Site {
	s := apptest.Start(t, db, apptest.Options{})
	s.SeedWorld(nil)
	s.User("admin", "so-khcn", "admin", "auditor")
	s.User("police", "cong-an", "operator")
	s.User("commune", "ubnd-xa", "admin")
	return s
}

func TestScopedListsAndDecisions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newWorld(t, db)
		cases := map[string]string{
			"admin":   "cam-secret,cam-traffic,cam-urban,cam-xa", // highest access sees all (ordered by name)
			"police":  "cam-traffic",                             // functions meet only traffic; secret is classified
			"commune": "cam-xa",                                  // its own system only (urban_order on ioc? see below)
		}
		for user, want := range cases {
			var p camPage
			c := s.Login(user)
			if st := c.Do("GET", "/api/v1/cameras?limit=100", nil, &p); st != 200 {
				t.Fatalf("%s list: %d", user, st)
			}
			got := map[string]bool{}
			for _, it := range p.Items {
				got[it.ID] = true
			}
			for _, id := range strings.Split(want, ",") {
				if !got[id] {
					t.Errorf("%s: missing %s in %s", user, id, ids(p))
				}
			}
			if user == "police" && (got["cam-secret"] || got["cam-xa"] || got["cam-urban"]) {
				t.Errorf("police sees more than its functions: %s", ids(p))
			}
		}
		// The commune also meets urban_order cameras of the province by function.
		police := s.Login("police")
		var e apiErr
		if st := police.Do("GET", "/api/v1/cameras/cam-secret", nil, &e); st != 403 || e.Code != "forbidden" || len(e.Details) == 0 || e.Details[0].Code != "classified" {
			t.Fatalf("police on classified camera: %d %+v", st, e)
		}
		if st := police.Do("GET", "/api/v1/cameras/does-not-exist", nil, &e); st != 403 {
			t.Fatalf("unknown camera for a non-highest user must look like a refusal, got %d", st)
		}
		var d struct {
			Allow  bool   `json:"allow"`
			Reason string `json:"reason"`
		}
		if st := police.Do("GET", "/api/v1/cameras/cam-traffic/decision?action=export", nil, &d); st != 200 || d.Allow || d.Reason != "export_needs_grant" {
			t.Fatalf("export decision: %d %+v", st, d)
		}
		// Every denial is in the audit log.
		es, _, err := audit.List(context.Background(), db.Q(), audit.Filter{ActionPrefix: "access.denied", Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, en := range es {
			if en.Object == "camera/cam-secret" && en.Reason == "classified" && en.Actor == "police" {
				found = true
			}
		}
		if !found {
			t.Fatalf("denial not audited: %+v", es)
		}
	})
}

func TestAuthFlowCSRFAndGenericFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newWorld(t, db)
		anon := s.Anonymous()
		var e apiErr
		if st := anon.Do("GET", "/api/v1/cameras", nil, &e); st != 401 || e.Code != "unauthenticated" {
			t.Fatalf("anonymous list: %d %+v", st, e)
		}
		var e1, e2 apiErr
		st1 := anon.Do("POST", "/api/v1/auth/login", map[string]string{"username": "police", "password": "wrong"}, &e1)
		st2 := anon.Do("POST", "/api/v1/auth/login", map[string]string{"username": "nobody", "password": "wrong"}, &e2)
		if st1 != 401 || st2 != 401 || e1.Code != e2.Code || e1.Message != e2.Message || e1.Code != "invalid_credentials" {
			t.Fatalf("login failures must be one generic answer: %d %+v / %d %+v", st1, e1, st2, e2)
		}
		if !strings.Contains(e1.Message, "không đúng") {
			t.Fatalf("default message must be Vietnamese: %q", e1.Message)
		}
		admin := s.Login("admin")
		body := map[string]any{"id": "org-x", "name": "Ban Quản lý X", "kind": "user_agency"}
		if st := admin.NoCSRF().Do("POST", "/api/v1/organisations", body, &e); st != 403 || e.Code != "csrf" {
			t.Fatalf("cookie session without CSRF: %d %+v", st, e)
		}
		if st := admin.Do("POST", "/api/v1/organisations", body, nil); st != 201 {
			t.Fatalf("with CSRF: %d", st)
		}
		// English on request.
		admin.Lang = "en"
		if st := admin.Do("POST", "/api/v1/organisations", body, &e); st != 409 || e.Code != "duplicate_id" || e.Field != "id" || !strings.Contains(e.Message, "already exists") {
			t.Fatalf("duplicate org: %d %+v", st, e)
		}
		// API tokens need no CSRF and no cookie.
		var tok struct {
			Token string `json:"token"`
		}
		if st := admin.Do("POST", "/api/v1/auth/tokens", map[string]any{"name": "tích hợp"}, &tok); st != 200 || tok.Token == "" {
			t.Fatalf("create token: %d", st)
		}
		tc := s.WithToken(tok.Token)
		if st := tc.Do("POST", "/api/v1/organisations", map[string]any{"id": "org-y", "name": "Y", "kind": "commune"}, nil); st != 201 {
			t.Fatalf("token create: %d", st)
		}
		if st := s.WithToken("vgt_bogus").Do("GET", "/api/v1/cameras", nil, &e); st != 401 {
			t.Fatalf("bogus token: %d", st)
		}
		// A user agency may not manage the registry, and that is audited.
		police := s.Login("police")
		if st := police.Do("POST", "/api/v1/organisations", map[string]any{"id": "org-z", "name": "Z", "kind": "commune"}, &e); st != 403 {
			t.Fatalf("police creates org: %d", st)
		}
		// Logout ends the session.
		if st := police.Do("POST", "/api/v1/auth/logout", nil, nil); st != 204 && st != 200 {
			t.Fatalf("logout: %d", st)
		}
		if st := police.Do("GET", "/api/v1/cameras", nil, nil); st != 401 {
			t.Fatalf("after logout: %d", st)
		}
	})
}

func TestFirstLoginMustChangePassword(t *testing.T) {
	s := apptest.Start(t, storetest.SQLite(t), apptest.Options{})
	s.SeedWorld(nil)
	s.User("admin", "so-khcn", "admin")
	admin := s.Login("admin")
	var ue apiErr
	if st := admin.Do("POST", "/api/v1/users", map[string]any{"username": "moi", "org_id": "cong-an", "roles": []string{"viewer"}, "initial_password": "Ban-đầu-123!"}, &ue); st != 201 {
		t.Fatalf("create user: %d %+v", st, ue)
	}
	c := s.Anonymous()
	var lr struct {
		State     string `json:"state"`
		CSRFToken string `json:"csrf_token"`
	}
	if st := c.Do("POST", "/api/v1/auth/login", map[string]string{"username": "moi", "password": "Ban-đầu-123!"}, &lr); st != 200 || lr.State != "must_change_password" {
		t.Fatalf("first login: %d %+v", st, lr)
	}
	var e apiErr
	if st := c.Do("GET", "/api/v1/cameras", nil, &e); st != 403 || e.Code != "password_change_required" {
		t.Fatalf("restricted session lists cameras: %d %+v", st, e)
	}
}

func TestBadInputIsRefusedAndNothingWritten(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newWorld(t, db)
		admin := s.Login("admin")
		before := count(t, db, "cameras")
		good := func() map[string]any {
			return map[string]any{"id": "cam-new", "system_id": "ioc", "name": "Camera mới", "kinds": []string{"security"},
				"purposes": []string{"security_order"}, "area": "road", "lat": 21.4, "lon": 103.0, "push": true}
		}
		big := strings.Repeat("Đ", 10000)
		sqlish := "x'); DROP TABLE cameras; --"
		type tc struct {
			name  string
			mut   func(m map[string]any)
			field string
		}
		cases := []tc{
			{"unknown field", func(m map[string]any) { m["colour"] = "red" }, "colour"},
			{"wrong type", func(m map[string]any) { m["lat"] = "north" }, "lat"},
			{"lat out of range", func(m map[string]any) { m["lat"] = 91.0 }, "lat"},
			{"lon out of range", func(m map[string]any) { m["lon"] = -181.0 }, "lon"},
			{"unknown kind", func(m map[string]any) { m["kinds"] = []string{"laser"} }, "kinds"},
			{"unknown area", func(m map[string]any) { m["area"] = "moon" }, "area"},
			{"bad id", func(m map[string]any) { m["id"] = "Bad ID!" }, "id"},
			{"duplicate id", func(m map[string]any) { m["id"] = "cam-traffic" }, "id"},
			{"public internal", func(m map[string]any) { m["public"] = true; m["area"] = "internal" }, "public"},
			{"public classified", func(m map[string]any) { m["public"] = true; m["classified"] = true }, "public"},
			{"bad url scheme", func(m map[string]any) { m["main_url"] = "http://cam/x"; m["push"] = false }, "main_url"},
			{"unknown system", func(m map[string]any) { m["system_id"] = "nope" }, "system_id"},
		}
		for _, f := range []string{"name", "admin_unit", "address", "main_url", "sub_url", "system_id", "id"} {
			f := f
			cases = append(cases, tc{"10kB " + f, func(m map[string]any) { m[f] = big }, f})
		}
		for _, c := range cases {
			m := good()
			c.mut(m)
			var e apiErr
			st := admin.Do("POST", "/api/v1/cameras", m, &e)
			if st < 400 || st >= 500 {
				t.Errorf("%s: want 4xx, got %d %+v", c.name, st, e)
				continue
			}
			if e.Code == "" || e.Message == "" {
				t.Errorf("%s: error without code/message: %+v", c.name, e)
			}
			if e.Field != c.field && !(strings.HasPrefix(e.Field, c.field)) {
				t.Errorf("%s: field %q, want %q (%+v)", c.name, e.Field, c.field, e)
			}
		}
		// SQL metacharacters are data, not code: stored and returned as is.
		m := good()
		m["id"], m["name"], m["address"] = "cam-sql", sqlish, sqlish
		var cam struct {
			Name, Address string
		}
		if st := admin.Do("POST", "/api/v1/cameras", m, &cam); st != 201 || cam.Name != sqlish {
			t.Fatalf("metacharacters: %d %+v", st, cam)
		}
		// Oversize body.
		huge := `{"name":"` + strings.Repeat("a", 2<<20) + `"}`
		if st, _, _ := admin.Raw("POST", "/api/v1/organisations", "application/json", huge); st != 413 {
			t.Errorf("oversize body: %d", st)
		}
		// Malformed JSON.
		var e apiErr
		if st, body, _ := admin.Raw("POST", "/api/v1/cameras", "application/json", `{"id":`); st != 400 && st != 422 {
			t.Errorf("malformed JSON: %d %s", st, body)
		} else {
			_ = json.Unmarshal(body, &e)
			if e.Code == "" {
				t.Errorf("malformed JSON: no code in %s", body)
			}
		}
		if got := count(t, db, "cameras"); got != before+1 {
			t.Fatalf("cameras %d → %d: only the metacharacter camera may have been written", before, got)
		}
	})
}

func TestCSVImportAllOrNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newWorld(t, db)
		admin := s.Login("admin")
		before := count(t, db, "cameras")
		bad := "id,system_id,name,kinds,purposes,area,lat,lon,push\n" +
			"csv-1,ioc,Cầu Thanh Bình,security,security_order,road,21.39,103.01,yes\n" +
			"csv-2,ioc,Ngã ba Him Lam,laser,security_order,intersection,21.40,103.02,yes\n" +
			"csv-3,ioc,Bến xe,security,security_order,road,95,103.02,yes\n"
		st, body, _ := admin.Raw("POST", "/api/v1/cameras/import", "text/csv", bad)
		var e apiErr
		_ = json.Unmarshal(body, &e)
		if st != 422 || e.Code != "csv_invalid" || len(e.Details) < 2 {
			t.Fatalf("bad CSV: %d %s", st, body)
		}
		lines := map[int]string{}
		for _, d := range e.Details {
			lines[d.Line] = d.Field
		}
		if lines[3] != "kinds" || lines[4] != "lat" {
			t.Fatalf("want line 3 kinds and line 4 lat, got %v", lines)
		}
		if got := count(t, db, "cameras"); got != before {
			t.Fatalf("a rejected import wrote %d cameras", got-before)
		}
		good := "\ufeffid;system_id;name;kinds;purposes;area;lat;lon;main_url\n" +
			"csv-1;ioc;Cầu Thanh Bình;security|traffic_counting;security_order;road;21.39;103.01;rtsp://10.0.0.1/a\n" +
			"csv-2;ioc;Ngã ba Him Lam;security;traffic_safety;intersection;21.40;103.02;rtsp://10.0.0.2/a\n"
		if st, body, _ := admin.Raw("POST", "/api/v1/cameras/import", "text/csv", good); st != 201 {
			t.Fatalf("good CSV: %d %s", st, body)
		}
		if got := count(t, db, "cameras"); got != before+2 {
			t.Fatalf("good import: %d new", got-before)
		}
		// Diacritics-insensitive search finds the imported camera.
		var p camPage
		admin.Do("GET", "/api/v1/cameras?q=cau%20thanh%20binh", nil, &p)
		if p.Total != 1 || p.Items[0].ID != "csv-1" {
			t.Fatalf("search: %+v", p)
		}
	})
}

func TestCredentialsNeverReturned(t *testing.T) {
	s := newWorld(t, storetest.SQLite(t))
	admin := s.Login("admin")
	m := map[string]any{"id": "cam-cred", "system_id": "ioc", "name": "Có mật khẩu", "kinds": []string{"security"},
		"purposes": []string{"security_order"}, "area": "road", "lat": 21.4, "lon": 103.0,
		"main_url": "rtsp://admin:Hik12345!@10.1.2.3:554/Streaming/Channels/101"}
	_, body, _ := admin.Raw("POST", "/api/v1/cameras", "application/json", m)
	_, list, _ := admin.Raw("GET", "/api/v1/cameras?limit=100", "", nil)
	_, one, _ := admin.Raw("GET", "/api/v1/cameras/cam-cred", "", nil)
	_, aud, _ := admin.Raw("GET", "/api/v1/audit?limit=1000", "", nil)
	for name, b := range map[string][]byte{"create": body, "list": list, "get": one, "audit": aud} {
		if strings.Contains(string(b), "Hik12345") {
			t.Fatalf("%s response leaks the camera password: %s", name, b)
		}
	}
	if !strings.Contains(string(one), `"has_main_credentials":true`) {
		t.Fatalf("credentials flag missing: %s", one)
	}
}

func TestGrantsApprovalsAndAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newWorld(t, db)
		admin := s.Login("admin")
		police := s.Login("police")
		var e apiErr
		// A grant beyond functions without approval is refused, naming approval_id.
		beyond := map[string]any{"org_id": "cong-an", "actions": []string{"view-live"}, "camera_id": "cam-urban"}
		if st := admin.Do("POST", "/api/v1/grants", beyond, &e); st != 422 || e.Field != "approval_id" {
			t.Fatalf("beyond-functions grant without approval: %d %+v", st, e)
		}
		var ap struct {
			ID string `json:"id"`
		}
		st := admin.Do("POST", "/api/v1/approvals", map[string]any{"org_id": "cong-an", "decision_no": "123/QĐ-UBND",
			"decision_date": "2026-11-01T00:00:00Z", "signer": "Chủ tịch UBND tỉnh", "scope": "Xem camera phố đi bộ",
			"expires_at": "2027-11-01T00:00:00Z", "doc_sha256": strings.Repeat("ab", 32)}, &ap)
		if st != 201 {
			t.Fatalf("approval: %d", st)
		}
		beyond["approval_id"] = ap.ID
		var g struct {
			ID string `json:"id"`
		}
		if st := admin.Do("POST", "/api/v1/grants", beyond, &g); st != 201 {
			t.Fatalf("grant with approval: %d", st)
		}
		if st := police.Do("GET", "/api/v1/cameras/cam-urban", nil, nil); st != 200 {
			t.Fatalf("police with approved grant: %d", st)
		}
		if st := police.Do("POST", "/api/v1/grants", beyond, nil); st != 403 {
			t.Fatalf("police grants itself: %d", st)
		}
		if st := admin.Do("DELETE", "/api/v1/grants/"+g.ID+"?reason=hết+nhu+cầu", nil, nil); st != 200 {
			t.Fatalf("revoke: %d", st)
		}
		if st := police.Do("GET", "/api/v1/cameras/cam-urban", nil, nil); st != 403 {
			t.Fatalf("after revoke: %d", st)
		}
		// Audit: auditors and the highest organisation only; the chain verifies.
		if st := police.Do("GET", "/api/v1/audit", nil, nil); st != 403 {
			t.Fatalf("police reads audit: %d", st)
		}
		var page struct {
			Items []audit.Entry `json:"items"`
		}
		if st := admin.Do("GET", "/api/v1/audit?action=access.grant.&limit=50", nil, &page); st != 200 || len(page.Items) < 2 {
			t.Fatalf("audit grants: %d %d", st, len(page.Items))
		}
		var rep struct {
			OK      bool   `json:"ok"`
			Entries int64  `json:"entries"`
			Message string `json:"message"`
		}
		if st := admin.Do("GET", "/api/v1/audit/verify", nil, &rep); st != 200 || !rep.OK || rep.Entries < 10 {
			t.Fatalf("verify: %d %+v", st, rep)
		}
		// Logins (ok and failed) are logged.
		s.Anonymous().Do("POST", "/api/v1/auth/login", map[string]string{"username": "police", "password": "sai"}, nil)
		es, _, _ := audit.List(context.Background(), db.Q(), audit.Filter{ActionPrefix: "auth.login", Limit: 100})
		var ok, failed int
		for _, en := range es {
			switch en.Outcome {
			case audit.OK:
				ok++
			case audit.Failed:
				failed++
			}
		}
		if ok == 0 || failed == 0 {
			t.Fatalf("login audit: ok=%d failed=%d", ok, failed)
		}
	})
}

func TestOpenAPIHealthAndMetrics(t *testing.T) {
	s := apptest.Start(t, storetest.SQLite(t), apptest.Options{})
	c := s.Anonymous()
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if st := c.Do("GET", "/api/v1/openapi.json", nil, &doc); st != 200 || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi: %d %q", st, doc.OpenAPI)
	}
	for _, p := range []string{"/api/v1/cameras", "/api/v1/auth/login", "/api/v1/audit", "/api/v1/grants", "/api/v1/cameras/import"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("openapi lacks %s", p)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if st, _, _ := c.Raw("GET", p, "", nil); st != http.StatusOK {
			t.Errorf("%s: %d", p, st)
		}
	}
	if st, body, _ := c.Raw("GET", "/api/v1/nope", "", nil); st != 404 || !strings.Contains(string(body), `"code":"not_found"`) {
		t.Errorf("unknown API path: %d %s", st, body)
	}
	_ = fmt.Sprint()
}
