package registry_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func TestCameraRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		in := validCamera("cam-001")
		in.Name = "Ngã tư Mường Thanh — Điện Biên Phủ"
		in.Kinds = []string{"traffic_counting", "security", "security"} // order and repeats do not matter
		in.MainURL = "rtsp://admin:M%C6%B0%E1%BB%9Dng@10.1.2.3:554/Streaming/Channels/101"
		in.SubURL = "rtsp://10.1.2.3:554/Streaming/Channels/102"
		in.Transport = "udp"
		in.OnDemand = true
		in.InstalledAt = time.Date(2024, 11, 20, 0, 0, 0, 0, time.UTC)
		c, err := f.svc.CreateCamera(ctx, actor, in)
		if err != nil {
			t.Fatal(err)
		}
		want := registry.Camera{
			ID: "cam-001", SystemID: "sys-ioc", Name: in.Name,
			Kinds: []string{"security", "traffic_counting"}, Purposes: []string{"security_order", "traffic_safety"},
			Area: "intersection", Lat: 21.3856, Lon: 103.0169, AdminUnit: "Phường Mường Thanh", Address: in.Address,
			MainURL: "rtsp://10.1.2.3:554/Streaming/Channels/101", SubURL: in.SubURL,
			HasMainCredentials: true, HasSubCredentials: true, Transport: "udp", OnDemand: true,
			InstalledAt: in.InstalledAt, ChangedAt: f.now, Version: 1, CreatedAt: f.now, UpdatedAt: f.now,
		}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("created:\n got %+v\nwant %+v", c, want)
		}
		got, err := f.svc.GetCamera(ctx, "cam-001")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("get: %v\n got %+v\nwant %+v", err, got, want)
		}

		// A change of name only does not restart the connection deadline.
		f.now = f.now.Add(time.Hour)
		in.Name = "Ngã tư Mường Thanh (cổng chợ)"
		c, err = f.svc.UpdateCamera(ctx, actor, "cam-001", 1, in)
		if err != nil {
			t.Fatal(err)
		}
		if c.Version != 2 || c.Name != in.Name || !c.ChangedAt.Equal(want.ChangedAt) || !c.UpdatedAt.Equal(f.now) {
			t.Fatalf("after rename: %+v", c)
		}
		if !c.HasMainCredentials {
			t.Fatal("an update without credentials dropped the stored ones")
		}
		// Moving the camera does (R-FED-2).
		f.now = f.now.Add(time.Hour)
		in.Lat = 21.39
		c, err = f.svc.UpdateCamera(ctx, actor, "cam-001", 2, in)
		if err != nil {
			t.Fatal(err)
		}
		if !c.ChangedAt.Equal(f.now) || c.Version != 3 {
			t.Fatalf("moving did not set changed_at: %+v", c)
		}
		// A stale version loses.
		_, err = f.svc.UpdateCamera(ctx, actor, "cam-001", 2, in)
		var ce *registry.ConflictError
		if !errors.Is(err, registry.ErrConflict) || !errors.As(err, &ce) || ce.Field != "version" {
			t.Fatalf("stale update: %v", err)
		}
		if _, err := f.svc.UpdateCamera(ctx, actor, "cam-002", 3, in); fieldErr(err, "id") == nil {
			t.Fatalf("an update renamed the camera: %v", err)
		}
		in.ID = ""
		if _, err := f.svc.UpdateCamera(ctx, actor, "nope", 1, in); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("update of a missing camera: %v", err)
		}

		if err := f.svc.DeleteCamera(ctx, actor, "cam-001"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.GetCamera(ctx, "cam-001"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		if err := f.svc.DeleteCamera(ctx, actor, "cam-001"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		acts := f.log.actions()
		tail := acts[len(acts)-4:]
		if !reflect.DeepEqual(tail, []string{"camera.create", "camera.update", "camera.update", "camera.delete"}) {
			t.Fatalf("audit actions: %v", acts)
		}
		f.log.mu.Lock()
		e1, e2 := f.log.entries[len(acts)-3], f.log.entries[len(acts)-2]
		f.log.mu.Unlock()
		if !reflect.DeepEqual(e1.Details["fields"], []string{"name"}) || !reflect.DeepEqual(e2.Details["fields"], []string{"lat"}) {
			t.Fatalf("audit details: %v / %v", e1.Details, e2.Details)
		}
		if e1.ActorID != "u-1" || e1.Actor != "nguyen.van.a" || e1.Org != "so-tttt" || e1.Remote != "10.0.0.9" || e1.Object != "camera/cam-001" {
			t.Fatalf("audit actor: %+v", e1)
		}
	})
}

func TestGeneratedIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		a, err := f.svc.CreateCamera(ctx, actor, validCamera(""))
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.svc.CreateCamera(ctx, actor, validCamera(""))
		if err != nil {
			t.Fatal(err)
		}
		if !registry.ValidID(a.ID) || !registry.ValidID(b.ID) || a.ID == b.ID {
			t.Fatalf("generated ids %q %q", a.ID, b.ID)
		}
		o, err := f.svc.CreateOrganisation(ctx, actor, registry.Organisation{Name: "UBND xã Thanh Minh", Kind: registry.OrgCommune})
		if err != nil || !registry.ValidID(o.ID) {
			t.Fatalf("org id %q: %v", o.ID, err)
		}
	})
}

func TestCameraValidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		cases := []struct {
			name, field, code string
			mut               func(in *registry.CameraInput)
		}{
			{"bad id", "id", "invalid_id", func(in *registry.CameraInput) { in.ID = "Cam 01" }},
			{"id too long", "id", "invalid_id", func(in *registry.CameraInput) { in.ID = strings.Repeat("a", 65) }},
			{"id leading dash", "id", "invalid_id", func(in *registry.CameraInput) { in.ID = "-cam" }},
			{"no system", "system_id", "required", func(in *registry.CameraInput) { in.SystemID = "" }},
			{"unknown system", "system_id", "not_found", func(in *registry.CameraInput) { in.SystemID = "sys-none" }},
			{"no name", "name", "required", func(in *registry.CameraInput) { in.Name = "  " }},
			{"name 201", "name", "too_long", func(in *registry.CameraInput) { in.Name = strings.Repeat("đ", 201) }},
			{"name newline", "name", "invalid_text", func(in *registry.CameraInput) { in.Name = "a\nb" }},
			{"name NUL", "name", "invalid_text", func(in *registry.CameraInput) { in.Name = "a\x00b" }},
			{"name bad utf8", "name", "invalid_text", func(in *registry.CameraInput) { in.Name = "a\xffb" }},
			{"no kinds", "kinds", "required", func(in *registry.CameraInput) { in.Kinds = nil }},
			{"unknown kind", "kinds", "unknown_value", func(in *registry.CameraInput) { in.Kinds = []string{"security", "thermal"} }},
			{"no purposes", "purposes", "required", func(in *registry.CameraInput) { in.Purposes = []string{" "} }},
			{"unknown purpose", "purposes", "unknown_value", func(in *registry.CameraInput) { in.Purposes = []string{"spying"} }},
			{"no area", "area", "required", func(in *registry.CameraInput) { in.Area = "" }},
			{"unknown area", "area", "unknown_value", func(in *registry.CameraInput) { in.Area = "bedroom" }},
			{"lat high", "lat", "out_of_range", func(in *registry.CameraInput) { in.Lat = 90.0001 }},
			{"lat low", "lat", "out_of_range", func(in *registry.CameraInput) { in.Lat = -91 }},
			{"lon high", "lon", "out_of_range", func(in *registry.CameraInput) { in.Lon = 180.5 }},
			{"lon low", "lon", "out_of_range", func(in *registry.CameraInput) { in.Lon = -181 }},
			{"null island", "lat", "missing_location", func(in *registry.CameraInput) { in.Lat, in.Lon = 0, 0 }},
			{"no main url", "main_url", "required", func(in *registry.CameraInput) { in.MainURL = "" }},
			{"http url", "main_url", "invalid_scheme", func(in *registry.CameraInput) { in.MainURL = "http://10.0.0.1/video" }},
			{"file url", "sub_url", "invalid_scheme", func(in *registry.CameraInput) { in.SubURL = "file:///etc/passwd" }},
			{"no host", "main_url", "invalid_url", func(in *registry.CameraInput) { in.MainURL = "rtsp:///stream" }},
			{"bad port", "main_url", "invalid_url", func(in *registry.CameraInput) { in.MainURL = "rtsp://h:99999/x" }},
			{"space in url", "main_url", "invalid_url", func(in *registry.CameraInput) { in.MainURL = "rtsp://h/a b" }},
			{"creds in query", "main_url", "credentials_in_query", func(in *registry.CameraInput) { in.MainURL = "rtsp://h/x?user=a&password=b" }},
			{"sub without main", "sub_url", "main_url_missing", func(in *registry.CameraInput) { in.MainURL, in.Push, in.SubURL = "", true, "rtsp://h/2" }},
			{"both creds", "username", "ambiguous_credentials", func(in *registry.CameraInput) { in.MainURL, in.Username = "rtsp://a:b@h/1", "c" }},
			{"clear and set", "clear_credentials", "ambiguous_credentials", func(in *registry.CameraInput) { in.Password, in.ClearCredentials = "x", true }},
			{"creds without url", "username", "no_url", func(in *registry.CameraInput) { in.MainURL, in.Push, in.Username = "", true, "admin" }},
			{"transport", "transport", "unknown_value", func(in *registry.CameraInput) { in.Transport = "http" }},
			{"consent date", "consent.date", "invalid_date", func(in *registry.CameraInput) { in.Consent = registry.Consent{Doc: "12/CV", Date: "31/12/2024"} }},
			{"consent half", "consent.doc", "incomplete_consent", func(in *registry.CameraInput) { in.Consent = registry.Consent{Doc: "12/CV"} }},
			{"public internal", "public", "public_not_allowed", func(in *registry.CameraInput) { in.Public, in.Area = true, "internal" }},
			{"public other", "public", "public_not_allowed", func(in *registry.CameraInput) { in.Public, in.Area = true, "public_other" }},
			{"public classified", "public", "public_not_allowed", func(in *registry.CameraInput) { in.Public, in.Classified = true, true }},
			{"private no consent", "public", "consent_required", func(in *registry.CameraInput) { in.Public, in.SystemID = true, "sys-private" }},
			{"installed 1900", "installed_at", "out_of_range", func(in *registry.CameraInput) { in.InstalledAt = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }},
		}
		for i, tc := range cases {
			in := validCamera("")
			tc.mut(&in)
			_, err := f.svc.CreateCamera(ctx, actor, in)
			e := fieldErr(err, tc.field)
			if e == nil || e.Code != tc.code {
				t.Errorf("%d %s: want %s/%s, got %v", i, tc.name, tc.field, tc.code, err)
			}
		}
		// The same input is accepted when the rule is met, so the table
		// above proves each rule, not a broken fixture.
		for _, in := range []registry.CameraInput{
			func() registry.CameraInput { c := validCamera(""); c.Public = true; return c }(),
			func() registry.CameraInput {
				c := validCamera("")
				c.Public, c.SystemID = true, "sys-private"
				c.Consent = registry.Consent{Doc: "01/2025/ĐY", Date: "2025-01-15", Scope: "chia sẻ công khai qua Điện Biên Smart"}
				return c
			}(),
			func() registry.CameraInput { c := validCamera(""); c.MainURL, c.Push = "", true; return c }(),
			func() registry.CameraInput { c := validCamera(""); c.Lat, c.Lon = -90, 180; return c }(),
		} {
			if _, err := f.svc.CreateCamera(ctx, actor, in); err != nil {
				t.Errorf("valid input refused: %v", err)
			}
		}
		// All problems are reported at once.
		in := validCamera("")
		in.Name, in.Area, in.Lat = "", "moon", 100
		_, err := f.svc.CreateCamera(ctx, actor, in)
		var es registry.ValidationErrors
		if !errors.As(err, &es) || len(es) != 3 {
			t.Fatalf("want 3 problems, got %v", err)
		}
	})
}

// hostile are values a form or spreadsheet may send into any text field.
var hostile = []string{
	`'; DROP TABLE cameras; --`,
	`" OR 1=1 --`,
	`%_\!%' ESCAPE '\'`,
	`Robert'); DELETE FROM organisations WHERE ('1'='1`,
	`$1 ? ?? :name @p1`,
	`Điện Biên ‘quoted’ “double” 😀`,
}

func TestHostileText(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		big := strings.Repeat("x", 10*1024)
		set := map[string]func(in *registry.CameraInput, v string){
			"id":            func(in *registry.CameraInput, v string) { in.ID = v },
			"system_id":     func(in *registry.CameraInput, v string) { in.SystemID = v },
			"name":          func(in *registry.CameraInput, v string) { in.Name = v },
			"area":          func(in *registry.CameraInput, v string) { in.Area = v },
			"kinds":         func(in *registry.CameraInput, v string) { in.Kinds = []string{v} },
			"purposes":      func(in *registry.CameraInput, v string) { in.Purposes = []string{v} },
			"admin_unit":    func(in *registry.CameraInput, v string) { in.AdminUnit = v },
			"address":       func(in *registry.CameraInput, v string) { in.Address = v },
			"main_url":      func(in *registry.CameraInput, v string) { in.MainURL = "rtsp://h/" + v },
			"sub_url":       func(in *registry.CameraInput, v string) { in.SubURL = "rtsp://h/" + v },
			"username":      func(in *registry.CameraInput, v string) { in.Username = v },
			"password":      func(in *registry.CameraInput, v string) { in.Password = v },
			"transport":     func(in *registry.CameraInput, v string) { in.Transport = v },
			"consent.doc":   func(in *registry.CameraInput, v string) { in.Consent.Doc, in.Consent.Date = v, "2025-01-01" },
			"consent.date":  func(in *registry.CameraInput, v string) { in.Consent.Doc, in.Consent.Date = "1/CV", v },
			"consent.scope": func(in *registry.CameraInput, v string) { in.Consent.Scope = v },
		}
		for field, fn := range set {
			in := validCamera("")
			fn(&in, big)
			_, err := f.svc.CreateCamera(ctx, actor, in)
			if fieldErr(err, field) == nil {
				t.Errorf("10 kB %s: want an error naming %s, got %v", field, field, err)
			}
			if err != nil && len(err.Error()) > 2000 {
				t.Errorf("10 kB %s: the error echoes the input (%d bytes)", field, len(err.Error()))
			}
		}
		for _, field := range []string{"name", "admin_unit", "address", "username", "password", "consent.doc", "consent.scope"} {
			for i, v := range hostile {
				in := validCamera("")
				set[field](&in, v)
				c, err := f.svc.CreateCamera(ctx, actor, in)
				if err != nil {
					t.Errorf("%s %d: %v", field, i, err)
					continue
				}
				var got string
				switch field {
				case "name":
					got = c.Name
				case "admin_unit":
					got = c.AdminUnit
				case "address":
					got = c.Address
				case "consent.doc":
					got = c.Consent.Doc
				case "consent.scope":
					got = c.Consent.Scope
				default:
					src, err := f.svc.StreamSource(ctx, c.ID)
					if err != nil {
						t.Fatal(err)
					}
					u, err := url.Parse(src.MainURL)
					if err != nil || u.User == nil {
						t.Errorf("%s %d: source URL does not parse back: %v", field, i, err)
						continue
					}
					got = u.User.Username()
					if field == "password" {
						got, _ = u.User.Password()
					}
				}
				if got != v {
					t.Errorf("%s %d: stored %q, want %q", field, i, got, v)
				}
			}
		}
		// Organisations and systems too.
		if _, err := f.svc.CreateOrganisation(ctx, actor, registry.Organisation{Name: big, Kind: "commune"}); fieldErr(err, "name") == nil {
			t.Errorf("10 kB org name: %v", err)
		}
		if _, err := f.svc.CreateSystem(ctx, actor, registry.System{Name: big, Tier: 2, ManagingOrgID: "so-tttt", OperatingOrgID: "vnpt", SiteID: "s"}); fieldErr(err, "name") == nil {
			t.Errorf("10 kB system name: %v", err)
		}
		for _, v := range hostile {
			o, err := f.svc.CreateOrganisation(ctx, actor, registry.Organisation{Name: v, Kind: "commune"})
			if err != nil || o.Name != v {
				t.Errorf("org name %q: %q %v", v, o.Name, err)
			}
		}
		n, err := f.svc.CountCameras(ctx, registry.Unscoped(), registry.CameraFilter{})
		if err != nil || n != len(hostile)*7 {
			t.Fatalf("cameras after hostile round: %d %v", n, err)
		}
	})
}

func TestDuplicateIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		if _, err := f.svc.CreateCamera(ctx, actor, validCamera("cam-1")); err != nil {
			t.Fatal(err)
		}
		n := len(f.log.actions())
		check := func(what string, err error) {
			t.Helper()
			var ce *registry.ConflictError
			if !errors.As(err, &ce) || ce.Field != "id" || ce.Code != "duplicate" || !errors.Is(err, registry.ErrConflict) {
				t.Errorf("%s: want a duplicate conflict on id, got %v", what, err)
			}
		}
		_, err := f.svc.CreateCamera(ctx, actor, validCamera("cam-1"))
		check("camera", err)
		_, err = f.svc.CreateOrganisation(ctx, actor, registry.Organisation{ID: "cong-an", Name: "x", Kind: "commune"})
		check("organisation", err)
		_, err = f.svc.CreateSystem(ctx, actor, registry.System{ID: "sys-ioc", Name: "x", Tier: 2, ManagingOrgID: "so-tttt", OperatingOrgID: "vnpt", SiteID: "x"})
		check("system", err)
		if got := len(f.log.actions()); got != n {
			t.Errorf("a refused create left %d audit entries", got-n)
		}
	})
}

func TestCredentialsNeverReturned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		const pass = "Zx9-Bi3t-MAT-KHAU"
		in := validCamera("cam-sec")
		in.MainURL = "rtsp://admin:" + pass + "@10.9.9.9:554/main"
		in.SubURL = "rtsp://10.9.9.9:554/sub"
		c, err := f.svc.CreateCamera(ctx, actor, in)
		if err != nil {
			t.Fatal(err)
		}
		in2 := validCamera("cam-sep")
		in2.Username, in2.Password = "viewer", pass+"-2"
		if _, err := f.svc.CreateCamera(ctx, actor, in2); err != nil {
			t.Fatal(err)
		}
		got, _ := f.svc.GetCamera(ctx, "cam-sec")
		page, err := f.svc.ListCameras(ctx, registry.Unscoped(), registry.CameraFilter{})
		if err != nil {
			t.Fatal(err)
		}
		facts, _ := f.svc.CameraFacts(ctx, "cam-sec")
		for what, v := range map[string]any{"create": c, "get": got, "list": page, "facts": facts, "audit": f.log.entries} {
			s := mustJSON(t, v)
			if strings.Contains(s, pass) || strings.Contains(s, "admin:") || strings.Contains(s, "viewer") {
				t.Errorf("%s JSON carries the credentials: %s", what, s)
			}
		}
		if !got.HasMainCredentials || !got.HasSubCredentials || got.MainURL != "rtsp://10.9.9.9:554/main" {
			t.Errorf("get: %+v", got)
		}
		// Not in clear in the database either.
		var raw string
		if err := db.Q().QueryRow(ctx, `SELECT main_cred_sealed || sub_cred_sealed || main_url FROM cameras WHERE id = ?`, "cam-sec").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, pass) || raw == "" {
			t.Errorf("database holds %q", raw)
		}

		srcs, err := f.svc.StreamSources(ctx)
		if err != nil || len(srcs) != 2 {
			t.Fatalf("sources: %v %v", len(srcs), err)
		}
		bySrc := map[string]registry.StreamSource{}
		for _, s := range srcs {
			bySrc[s.CameraID] = s
		}
		if s := bySrc["cam-sec"]; s.MainURL != in.MainURL || s.SubURL != "rtsp://admin:"+pass+"@10.9.9.9:554/sub" || s.Transport != "tcp" {
			t.Errorf("cam-sec source: main %q sub %q", s.MainURL, s.SubURL)
		}
		if s := bySrc["cam-sep"]; s.MainURL != "rtsp://viewer:"+pass+"-2@10.1.2.3:554/Streaming/Channels/101" {
			t.Errorf("cam-sep source: %q", s.MainURL)
		}
		// A source printed or logged by mistake stays redacted.
		for _, s := range []string{bySrc["cam-sec"].String(), mustJSON(t, bySrc["cam-sec"]), bySrc["cam-sec"].GoString(), bySrc["cam-sec"].LogValue().String()} {
			if strings.Contains(s, pass) {
				t.Errorf("redaction failed: %s", s)
			}
		}

		// Read-modify-write keeps the credentials; clearing removes them.
		in.MainURL = got.MainURL
		got, err = f.svc.UpdateCamera(ctx, actor, "cam-sec", 1, in)
		if err != nil || !got.HasMainCredentials {
			t.Fatalf("update kept? %+v %v", got, err)
		}
		if s, _ := f.svc.StreamSource(ctx, "cam-sec"); !strings.Contains(s.MainURL, pass) {
			t.Errorf("credentials lost on update: %s", s)
		}
		in.ClearCredentials = true
		got, err = f.svc.UpdateCamera(ctx, actor, "cam-sec", 2, in)
		if err != nil || got.HasMainCredentials || got.HasSubCredentials {
			t.Fatalf("clear: %+v %v", got, err)
		}
		f.log.mu.Lock()
		last := f.log.entries[len(f.log.entries)-1]
		f.log.mu.Unlock()
		if !reflect.DeepEqual(last.Details["fields"], []string{"main_credentials", "sub_credentials"}) {
			t.Errorf("clear audit fields: %v", last.Details)
		}
		// A bad URL carrying a password is refused without echoing it.
		bad := validCamera("cam-bad")
		bad.MainURL = "rtsp://admin:" + pass + "#x@10.0.0.1/"
		_, err = f.svc.CreateCamera(ctx, actor, bad)
		if err == nil || strings.Contains(err.Error(), pass) || strings.Contains(mustJSON(t, err), pass) {
			t.Errorf("bad URL error: %v", err)
		}
	})
}

func TestAuditFailureRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.log.fail = true
		if _, err := f.svc.CreateCamera(ctx, actor, validCamera("cam-x")); err == nil {
			t.Fatal("create succeeded without its audit entry")
		}
		if _, err := f.svc.GetCamera(ctx, "cam-x"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("the camera was written without its audit entry: %v", err)
		}
		if _, err := f.svc.ImportCameras(ctx, actor, strings.NewReader(goodCSV), registry.ImportOptions{}); err == nil {
			t.Fatal("import succeeded without its audit entries")
		}
		if n, _ := f.svc.CountCameras(ctx, registry.Unscoped(), registry.CameraFilter{}); n != 0 {
			t.Fatalf("%d cameras written without audit", n)
		}
	})
}

func TestFirstConnectedAndFacts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		in := validCamera("cam-p")
		in.SystemID, in.Public = "sys-private", true
		in.Consent = registry.Consent{Doc: "07/ĐY", Date: "2025-02-01"}
		if _, err := f.svc.CreateCamera(ctx, actor, in); err != nil {
			t.Fatal(err)
		}
		t1 := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
		if set, err := f.svc.SetFirstConnected(ctx, "cam-p", t1); !set || err != nil {
			t.Fatalf("first: %v %v", set, err)
		}
		if set, err := f.svc.SetFirstConnected(ctx, "cam-p", t1.Add(time.Hour)); set || err != nil {
			t.Fatalf("second: %v %v", set, err)
		}
		if _, err := f.svc.SetFirstConnected(ctx, "nope", t1); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		c, _ := f.svc.GetCamera(ctx, "cam-p")
		if !c.FirstConnectedAt.Equal(t1) || c.Version != 1 {
			t.Fatalf("first connected %v version %d", c.FirstConnectedAt, c.Version)
		}
		facts, err := f.svc.CameraFacts(ctx, "cam-p")
		want := registry.CameraFacts{CameraID: "cam-p", SystemID: "sys-private", Tier: 3, ManagingOrgID: "chu-nha", OperatingOrgID: "chu-nha",
			Kinds:    registry.MustMask(registry.Kinds, "security", "traffic_counting"),
			Purposes: registry.MustMask(registry.Purposes, "security_order", "traffic_safety"),
			AreaBit:  registry.AreaBit("intersection"), Area: "intersection", Public: true, PrivateOwner: true, ConsentOnRecord: true}
		if err != nil || facts != want {
			t.Fatalf("facts:\n got %+v\nwant %+v (%v)", facts, want, err)
		}
		if _, err := f.svc.CameraFacts(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("facts of missing: %v", err)
		}
	})
}

// TestCameraInAnotherSitesSystem: tier 1 holds its lower sites' systems for
// the federation; a camera of such a system is registered at its own site
// and arrives through the link, so tier 1 registers none there itself (by
// form, by move or by CSV), while its own systems take cameras as ever.
func TestCameraInAnotherSitesSystem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.svc.SetSiteID("db-ioc")
		in := validCamera("cam-x")
		in.SystemID = "sys-private" // run by site xa-thanh-minh
		if e := fieldErr(errOf(f.svc.CreateCamera(ctx, actor, in)), "system_id"); e == nil || e.Code != "other_site" {
			t.Fatalf("camera created in another site's system: %+v", e)
		}
		in.SystemID = "sys-ioc"
		if _, err := f.svc.CreateCamera(ctx, actor, in); err != nil {
			t.Fatal(err)
		}
		in.SystemID = "sys-private"
		if e := fieldErr(errOf(f.svc.UpdateCamera(ctx, actor, "cam-x", 1, in)), "system_id"); e == nil || e.Code != "other_site" {
			t.Fatalf("camera moved into another site's system: %+v", e)
		}
		csv := "id,system_id,name,kinds,purposes,area,lat,lon,push\ncam-y,sys-private,Cổng,security,urban_order,road,21.3,103.0,true\n"
		_, err := f.svc.ImportCameras(ctx, actor, strings.NewReader(csv), registry.ImportOptions{})
		var es registry.ValidationErrors
		if !errors.As(err, &es) || !strings.Contains(err.Error(), "other_site") && !strings.Contains(fmtErrs(es), "other_site") {
			t.Fatalf("CSV row in another site's system: %v", err)
		}
		if _, err := f.svc.GetCamera(ctx, "cam-y"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("cam-y imported: %v", err)
		}
	})
}

func errOf[T any](_ T, err error) error { return err }

func fmtErrs(es registry.ValidationErrors) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.Field + ":" + e.Code + " ")
	}
	return b.String()
}

// TestFederatedSub: tier 1 stores whether a lower site's camera has a sub
// stream, from each shared record, and hands it to the media hub (the sub
// is then pushed on demand on its own); a local camera never has it.
func TestFederatedSub(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.svc.SetSiteID("db-ioc")
		if _, err := f.svc.CreateCamera(ctx, actor, validCamera("cam-local")); err != nil {
			t.Fatal(err)
		}
		in := validCamera("cam-fed")
		in.SystemID = "sys-private"
		in.MainURL = ""
		in.Consent = registry.Consent{Doc: "HĐ-01", Date: "2025-01-02", Scope: "security_order"}
		source := func(id string) registry.StreamSource {
			t.Helper()
			srcs, err := f.svc.StreamSources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range srcs {
				if s.CameraID == id {
					return s
				}
			}
			t.Fatalf("no source %s", id)
			return registry.StreamSource{}
		}
		for i, sub := range []bool{true, false, true} {
			if _, err := f.svc.UpsertFederated(ctx, db.Q(), actor, "xa-thanh-minh", in, int64(1000+i), sub); err != nil {
				t.Fatalf("upsert %d: %v", i, err)
			}
			if s := source("cam-fed"); s.FederatedSub != sub || s.OriginSite != "xa-thanh-minh" || !s.Push || s.SubURL != "" {
				t.Fatalf("upsert %d (sub %v): source %+v", i, sub, s)
			}
		}
		if s := source("cam-local"); s.FederatedSub {
			t.Fatalf("local camera with a federated sub: %+v", s)
		}
	})
}
