package ops_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/ops"
)

// FuzzParseTarget: any string either fails cleanly or yields a usable
// target; the password never survives into the redacted report target.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"rtsp://admin:12345@10.0.0.5:554/Streaming/Channels/101", "rtsps://cam/main", "rtsp://[::1]/x?subtype=0",
		"http://x/", "rtsp://", "rtsp://:554/", "rtsp://u:p@h:99999/", "rtsp://h/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, _, pass, hostport, err := ops.ParseTarget(raw)
		if err != nil {
			return
		}
		if u == nil || hostport == "" || (u.Scheme != "rtsp" && u.Scheme != "rtsps") {
			t.Fatalf("accepted %q: %v %q", raw, u, hostport)
		}
		_ = pass
		_ = ops.DeriveSubURL(raw)
	})
}

// FuzzValidateConsent: a consent that passes has every field well-formed.
func FuzzValidateConsent(f *testing.F) {
	f.Add("department", "12/STTTT", "2025-01-10", "Giám đốc", strings.Repeat("ab", 32))
	f.Add("area_manager", "", "2025-02-30", "x", "zz")
	f.Add("department", "1", "0001-01-01", " ", strings.Repeat("AB", 32))
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, kind, no, date, signer, hash string) {
		c := ops.InstConsent{Kind: kind, DocNo: no, DocDate: date, Signer: signer, DocSHA256: hash}
		if ops.ValidateConsent(&c, now) != nil {
			return
		}
		d, err := time.Parse("2006-01-02", c.DocDate)
		if err != nil || d.After(now.Add(24*time.Hour)) || len(c.DocSHA256) != 64 || c.DocNo == "" || c.Signer == "" {
			t.Fatalf("accepted %+v", c)
		}
	})
}
