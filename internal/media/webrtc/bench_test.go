package webrtc

import (
	"context"
	"net/http"
	"sort"
	"testing"
	"time"
)

// BenchmarkTimeToFirstFrame measures, for a new WHEP viewer of a camera
// that is already online, the time from POSTing the offer to receiving the
// first complete video access unit (the keyframe replayed from the hub's GOP
// cache). Goal: ≤ 300 ms. Run: bench/webrtc.sh.
func BenchmarkTimeToFirstFrame(b *testing.B) {
	r := newRig(b, "good")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Warm up: the camera connects and the GOP cache fills.
	c, res, err := dialWHEP(ctx, r.http.URL+"/whep/cam264/main", "good")
	if err != nil || c == nil {
		b.Fatalf("warm-up: %v %v", err, res)
	}
	<-c.firstRTP
	c.pc.Close()

	var fromPost, total []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c, res, err := dialWHEP(ctx, r.http.URL+"/whep/cam264/main", "good")
		if err != nil || c == nil || res.StatusCode != http.StatusCreated {
			b.Fatalf("dial: %v %v", err, res)
		}
		select {
		case t1 := <-c.firstRTP:
			fromPost = append(fromPost, t1.Sub(c.posted))
			total = append(total, t1.Sub(t0))
		case <-ctx.Done():
			b.Fatal("no frame")
		}
		req, _ := http.NewRequest(http.MethodDelete, r.http.URL+c.location, nil)
		if dres, err := http.DefaultClient.Do(req); err == nil {
			dres.Body.Close()
		}
		c.pc.Close()
	}
	b.StopTimer()
	p := func(d []time.Duration, q float64) float64 {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(fromPost, 0.5), "ms-post-to-frame-p50")
	b.ReportMetric(p(fromPost, 0.95), "ms-post-to-frame-p95")
	b.ReportMetric(p(total, 0.5), "ms-offer-to-frame-p50")
	b.Logf("n=%d: POST→first frame p50 %.1f ms p95 %.1f ms max %.1f ms; incl. client offer/gathering p50 %.1f ms",
		len(fromPost), p(fromPost, 0.5), p(fromPost, 0.95), p(fromPost, 1), p(total, 0.5))
}
