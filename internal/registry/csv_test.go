package registry_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

const goodCSV = `id,system_id,name,kinds,purposes,area,lat,lon,admin_unit,address,classified,public,main_url,sub_url,password,username
cam-a,sys-ioc,Ngã tư Mường Thanh,security;traffic_counting,security_order|traffic_safety,intersection,21.3856,103.0169,Phường Mường Thanh,"Đường Võ Nguyên Giáp, số 1",0,1,rtsp://admin:pw-a@10.0.0.1/main,rtsp://10.0.0.1/sub,,
cam-b,sys-ioc,"Chợ ""Trung tâm"" Điện Biên",security,security_order,public_crowded,21.39,103.02,Phường Him Lam,,no,yes,rtsp://10.0.0.2/main,,pw-b,viewer
,sys-ioc,Camera không có id,security,urban_order,road,21.4,103.03,,,,,rtsp://10.0.0.3/main,,,
`

func TestImportGood(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		before := len(f.log.actions())
		res, err := f.svc.ImportCameras(ctx, actor, strings.NewReader(goodCSV), registry.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 3 || res.IDs[0] != "cam-a" || res.IDs[1] != "cam-b" || !registry.ValidID(res.IDs[2]) {
			t.Fatalf("result %+v", res)
		}
		a, _ := f.svc.GetCamera(ctx, "cam-a")
		if a.Name != "Ngã tư Mường Thanh" || a.Address != "Đường Võ Nguyên Giáp, số 1" || !a.Public ||
			!reflect.DeepEqual(a.Kinds, []string{"security", "traffic_counting"}) || !a.HasMainCredentials || a.MainURL != "rtsp://10.0.0.1/main" {
			t.Fatalf("cam-a %+v", a)
		}
		b, _ := f.svc.GetCamera(ctx, "cam-b")
		if b.Name != `Chợ "Trung tâm" Điện Biên` || !b.Public || !b.HasMainCredentials || b.HasSubCredentials {
			t.Fatalf("cam-b %+v", b)
		}
		src, _ := f.svc.StreamSource(ctx, "cam-b")
		if src.MainURL != "rtsp://viewer:pw-b@10.0.0.2/main" {
			t.Fatalf("cam-b source %q", src.MainURL)
		}
		acts := f.log.actions()[before:]
		want := []string{"camera.create", "camera.create", "camera.create", "camera.import"}
		if !reflect.DeepEqual(acts, want) {
			t.Fatalf("audit %v", acts)
		}
		if !strings.Contains(f.log.json(t), `"count":3`) || strings.Contains(f.log.json(t), "pw-a") {
			t.Fatalf("import audit: %s", f.log.json(t))
		}
	})
}

func TestImportBOMSemicolonDecimalComma(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		// As Excel in a Vietnamese locale saves "CSV UTF-8": BOM, ';', decimal
		// comma, CRLF, header names with odd case and spaces, a trailing
		// empty row.
		data := "\ufeffID;System ID;Name;Kinds;Purposes;Area;Lat;Lon;Classified;Public;Main URL\r\n" +
			"cam-1;sys-ioc;Đồi A1;security|crowd_detection;security_order;public_crowded;21,3833;103,0231;không;có;rtsp://10.0.0.1/1\r\n" +
			"cam-2;sys-ioc;\"Bản Phủ; cổng\";security;rescue|forest_fire;road;21.35;103.0;;x;rtsp://10.0.0.2/1\r\n" +
			";;;;;;;;;;\r\n"
		res, err := f.svc.ImportCameras(ctx, actor, strings.NewReader(data), registry.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 2 {
			t.Fatalf("created %d", res.Created)
		}
		c1, _ := f.svc.GetCamera(ctx, "cam-1")
		if c1.Lat != 21.3833 || c1.Lon != 103.0231 || !c1.Public || c1.Classified || c1.Name != "Đồi A1" {
			t.Fatalf("cam-1 %+v", c1)
		}
		c2, _ := f.svc.GetCamera(ctx, "cam-2")
		if c2.Name != "Bản Phủ; cổng" || !reflect.DeepEqual(c2.Purposes, []string{"rescue", "forest_fire"}) || !c2.Public {
			t.Fatalf("cam-2 %+v", c2)
		}
	})
}

func TestImportBadRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		if _, err := f.svc.CreateCamera(ctx, actor, validCamera("cam-old")); err != nil {
			t.Fatal(err)
		}
		data := `id,system_id,name,kinds,purposes,area,lat,lon,public,classified,main_url,consent_date
cam-ok,sys-ioc,Tốt,security,security_order,road,21.1,103.1,,,rtsp://h/1,
cam-2,sys-ioc,Hai,security,security_order,road,abc,103.1,,,rtsp://h/2,
cam-3,sys-none,Ba,security,security_order,road,21.1,103.1,,,rtsp://h/3,
cam-4,sys-ioc,Bốn,lasers,security_order,road,21.1,103.1,,,rtsp://h/4,
cam-5,sys-ioc,Năm,security,security_order,internal,21.1,103.1,1,,rtsp://h/5,
cam-ok,sys-ioc,Sáu,security,security_order,road,21.1,103.1,,,rtsp://h/6,
cam-old,sys-ioc,Bảy,security,security_order,road,21.1,103.1,,,rtsp://h/7,
cam-8,sys-private,Tám,security,security_order,road,21.1,103.1,yes,,rtsp://h/8,
cam-9,sys-ioc,Chín,security,security_order,road,21.1,103.1,maybe,,ftp://h/9,
BAD ID,sys-ioc,,security,security_order,road,95,103.1,,,rtsp://h/10,31/12/2024
`
		before := len(f.log.actions())
		_, err := f.svc.ImportCameras(ctx, actor, strings.NewReader(data), registry.ImportOptions{})
		var es registry.ValidationErrors
		if err == nil {
			t.Fatal("bad file imported")
		}
		if !asList(err, &es) {
			t.Fatalf("not a list: %v", err)
		}
		var got []string
		for _, e := range es {
			got = append(got, fmt.Sprintf("%d %s %s", e.Line, e.Field, e.Code))
		}
		want := []string{
			"3 lat invalid_number",
			"4 system_id not_found",
			"5 kinds unknown_value",
			"6 public public_not_allowed",
			"7 id duplicate",
			"8 id duplicate",
			"9 public consent_required",
			"10 public invalid_bool",
			"10 main_url invalid_scheme",
			"11 id invalid_id",
			"11 name required",
			"11 lat out_of_range",
			"11 consent_date invalid_date",
			"11 consent_doc incomplete_consent",
		}
		if !reflect.DeepEqual(sortedCopy(got), sortedCopy(want)) {
			t.Fatalf("errors:\n got %q\nwant %q", got, want)
		}
		if n, _ := f.svc.CountCameras(ctx, registry.Unscoped(), registry.CameraFilter{}); n != 1 {
			t.Fatalf("%d cameras after a refused import (want only the one from before)", n)
		}
		if _, err := f.svc.GetCamera(ctx, "cam-ok"); err == nil {
			t.Fatal("the good row of a bad file was written")
		}
		if len(f.log.actions()) != before {
			t.Fatalf("a refused import left audit entries: %v", f.log.actions()[before:])
		}
	})
}

func asList(err error, es *registry.ValidationErrors) bool {
	l, ok := err.(registry.ValidationErrors)
	*es = l
	return ok
}

func TestImportFileProblems(t *testing.T) {
	hdr := "system_id,name,kinds,purposes,area,lat,lon,main_url\n"
	row := "sys-ioc,A,security,security_order,road,21.1,103.1,rtsp://h/1\n"
	for name, tc := range map[string]struct {
		data  string
		opt   registry.ImportOptions
		field string
		code  string
		line  int
	}{
		"empty":          {"", registry.ImportOptions{}, "file", "empty", 1},
		"header only":    {hdr, registry.ImportOptions{}, "file", "empty", 2},
		"unknown column": {"purpose," + hdr + "x," + row, registry.ImportOptions{}, "purpose", "unknown_column", 1},
		"missing column": {"system_id,name\nsys-ioc,A\n", registry.ImportOptions{}, "kinds", "missing_column", 1},
		"dup column":     {"name," + hdr, registry.ImportOptions{}, "name", "duplicate_column", 1},
		"too many rows":  {hdr + row + row + row, registry.ImportOptions{MaxRows: 2}, "file", "too_many_rows", 4},
		"too large":      {hdr + row, registry.ImportOptions{MaxBytes: 50}, "file", "too_large", 0},
		"latin1":         {hdr + row + "sys-ioc,\xd0i\xean,security,security_order,road,21.1,103.1,rtsp://h/1\n", registry.ImportOptions{}, "file", "invalid_utf8", 3},
		"bare quote":     {hdr + row + "sys-ioc,A\"b,security,security_order,road,21.1,103.1,rtsp://h/1\n", registry.ImportOptions{}, "file", "csv_syntax", 3},
		"extra cells":    {hdr + row + "sys-ioc,A,security,security_order,road,21.1,103.1,rtsp://h/1,extra\n", registry.ImportOptions{}, "file", "field_count", 3},
	} {
		_, err := registry.ParseCameraCSV(strings.NewReader(tc.data), tc.opt)
		e := fieldErr(err, tc.field)
		if e == nil || e.Code != tc.code || e.Line != tc.line {
			t.Errorf("%s: want line %d %s/%s, got %v", name, tc.line, tc.field, tc.code, err)
		}
	}
	// Fewer cells than the header (a spreadsheet dropping trailing blanks) is fine.
	rows, err := registry.ParseCameraCSV(strings.NewReader(hdr+"sys-ioc,A,security,security_order,road,21.1,103.1\n"), registry.ImportOptions{})
	if err != nil || len(rows) != 1 || rows[0].Line != 2 {
		t.Fatalf("short row: %v %v", rows, err)
	}
}
