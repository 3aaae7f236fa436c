package access_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/access"
)

// BenchmarkDecide measures decisions of a user agency with a handful of
// grants over a mix of cameras and actions, the common case on a busy wall
// (the department's answers return earlier and are faster). It reports
// decisions/s; the goal is ≥ 1 M/s on one core with no allocation.
func BenchmarkDecide(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var cams []*access.Camera
	for _, c := range tableCameras() {
		cams = append(cams, c)
	}
	for i := 0; i < 53; i++ { // 64 cameras in all
		c := *cams[r.IntN(11)]
		c.Purposes = r.Int64N(64)
		c.AreaBit = 1 << r.IntN(5)
		cams = append(cams, &c)
	}
	s := tableSubjects()["ua"]
	s.Roles = access.RoleOperator
	for i := 0; i < 3; i++ { // six grants in all
		s.Grants = append(s.Grants, access.Grant{ID: "gx", OrgID: "ua", Actions: access.SetOf(access.ViewLive),
			SystemID: "sys-elsewhere", Approval: approval("ax", future)})
	}
	acts := []access.Action{access.ViewLive, access.Playback, access.Export, access.ViewLive}
	at := now
	allowed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if access.Decide(s, acts[i&3], cams[i&63], at).Allow {
			allowed++
		}
	}
	b.StopTimer()
	if allowed == 0 {
		b.Fatal("nothing allowed: the benchmark measures only denials")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkScope: building the WHERE fragment for a subject with 200
// per-camera grants (once per list request).
func BenchmarkScope(b *testing.B) {
	s := *tableSubjects()["ua"]
	for i := 0; i < 200; i++ {
		s.Grants = append(s.Grants, access.Grant{ID: "g", OrgID: "ua", Actions: access.SetOf(access.ViewLive),
			CameraID: "cam" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Approval: approval("a", future)})
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		access.Scope(&s, access.ViewLive, at)
	}
}
