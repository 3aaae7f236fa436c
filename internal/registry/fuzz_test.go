package registry

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func FuzzParseCameraCSV(f *testing.F) {
	f.Add("id,system_id,name,kinds,purposes,area,lat,lon,main_url\ncam-1,sys,Ngã tư,security,security_order,road,21.3,103.0,rtsp://a:b@h/1\n")
	f.Add("\ufeffid;system_id;name;kinds;purposes;area;lat;lon\r\nc;s;\"a;b\";security|other_ai;rescue;road;21,3;103,0\r\n;;;;;;;\r\n")
	f.Add("system_id,name\n\"unterminated,x\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, data string) {
		rows, err := ParseCameraCSV(strings.NewReader(data), ImportOptions{MaxRows: 50, MaxBytes: 1 << 16})
		if err != nil {
			es, ok := err.(ValidationErrors)
			if !ok || len(es) == 0 {
				t.Fatalf("error is not a ValidationErrors: %v", err)
			}
			for _, e := range es {
				if e.Field == "" || e.Code == "" || e.Line < 0 || len(e.Message) > 600 {
					t.Fatalf("bad error %+v", e)
				}
			}
		}
		prev := 1
		for _, r := range rows {
			if r.Line <= prev {
				t.Fatalf("row lines not increasing after the header: %d after %d", r.Line, prev)
			}
			prev = r.Line
			// The value rules must never panic on what the parser lets through.
			validateCamera(r.Camera)
		}
	})
}

func FuzzParseCoordinate(f *testing.F) {
	for _, s := range []string{"21.3856", "-90", "+180.0", "103,0169", "NaN", "Inf", "0x1p-2", "1e5", "1.2.3", "", "-", ".5", "1,234.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := ParseCoordinate(s)
		if !ok {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%q gave %v", s, v)
		}
		if strings.ContainsAny(s, "eEnNxXiI_") {
			t.Fatalf("%q accepted", s)
		}
		w, ok := ParseCoordinate(strconv.FormatFloat(v, 'f', -1, 64))
		if !ok || w != v {
			t.Fatalf("%q: %v does not round-trip (%v %v)", s, v, w, ok)
		}
	})
}

func FuzzValidID(f *testing.F) {
	for _, s := range []string{"cam-01", "a", "A", "-a", "a b", "a/../b", strings.Repeat("a", 64), strings.Repeat("a", 65), "đ", "a\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidID(s) {
			return
		}
		if len(s) == 0 || len(s) > 64 || s[0] == '-' || s[0] == '.' || s[0] == '_' {
			t.Fatalf("%q accepted", s)
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				t.Fatalf("%q accepted", s)
			}
		}
	})
}

func FuzzSplitStreamURL(f *testing.F) {
	for _, s := range []string{
		"rtsp://admin:pass@10.0.0.1:554/Streaming/Channels/101",
		"rtsps://h/x?a=1", "rtsp://u@h", "rtsp://:p@h", "rtsp://a:b%40c@h/", "rtsp://a:b#c@h/",
		"http://h/", "rtsp:///x", "rtsp://h:0/", "rtsp://h/x?password=1", "rtsp://[::1]:554/a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var es ValidationErrors
		clean, cred := splitStreamURL(&es, "main_url", raw)
		pass := ""
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			pass, _ = u.User.Password()
		}
		if len(es) > 0 {
			// A refused URL is never quoted back: it may hold a password.
			for _, e := range es {
				if len(pass) > 3 && strings.Contains(e.Message, pass) {
					t.Fatalf("message quotes the password: %s", e.Message)
				}
			}
			return
		}
		if raw == "" {
			return
		}
		u, err := url.Parse(clean)
		if err != nil || u.User != nil {
			t.Fatalf("clean URL %q still has user info or does not parse (%v)", clean, err)
		}
		if cred == nil {
			return
		}
		if cred.Set {
			u.User = url.UserPassword(cred.User, cred.Pass)
		} else {
			u.User = url.User(cred.User)
		}
		var es2 ValidationErrors
		clean2, cred2 := splitStreamURL(&es2, "main_url", u.String())
		if len(es2) > 0 || clean2 != clean || cred2 == nil || *cred2 != *cred {
			t.Fatalf("recombined %q does not split back: %v %q %+v vs %+v", u.Redacted(), es2, clean2, cred2, cred)
		}
	})
}

func FuzzFold(f *testing.F) {
	for _, s := range []string{"Điện Biên Phủ", "ĐƯỜNG  Võ\tNguyên Giáp", "Tuần Giáo", "İstanbul", "ﬁ", "", "a\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		got := Fold(s)
		for _, r := range got {
			if unicode.Is(unicode.Mn, r) || r == 'đ' || r == 'Đ' || unicode.IsSpace(r) && r != ' ' {
				t.Fatalf("Fold(%q) = %q keeps %q", s, got, r)
			}
		}
		if strings.Contains(got, "  ") || strings.HasPrefix(got, " ") || strings.HasSuffix(got, " ") {
			t.Fatalf("Fold(%q) = %q has stray spaces", s, got)
		}
		// A query is folded like the stored text: folding twice must not
		// change it, or a folded word would fail to find itself.
		if again := Fold(got); again != got {
			t.Fatalf("Fold not idempotent: %q → %q → %q", s, got, again)
		}
	})
}
