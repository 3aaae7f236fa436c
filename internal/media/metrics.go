package media

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics: per-stream figures are read from the streams at scrape time (a
// collector), so removed cameras leave no stale series behind; hub-wide
// events are plain counters.
type metrics struct {
	h            *Hub
	droppedUnits *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	rtspRefused  *prometheus.CounterVec
	rtspConns    prometheus.Gauge

	online     *prometheus.Desc
	bitrate    *prometheus.Desc
	fps        *prometheus.Desc
	readers    *prometheus.Desc
	bytesIn    *prometheus.Desc
	framesIn   *prometheus.Desc
	reconnects *prometheus.Desc
	dropped    *prometheus.Desc
}

func newMetrics(h *Hub) *metrics {
	l := []string{"camera", "variant"}
	return &metrics{
		h: h,
		droppedUnits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_media_reader_dropped_units_total",
			Help: "Units dropped for readers that could not keep up, by protocol.",
		}, []string{"protocol"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_media_auth_failures_total",
			Help: "Refused reader or publisher authorizations, by protocol.",
		}, []string{"protocol"}),
		rtspRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_media_rtsp_refused_total",
			Help: "RTSP requests refused, by reason.",
		}, []string{"reason"}),
		rtspConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_media_rtsp_connections",
			Help: "Open RTSP connections on the re-stream listener.",
		}),
		online:     prometheus.NewDesc("vigil_media_stream_online", "1 if the camera stream is online.", l, nil),
		bitrate:    prometheus.NewDesc("vigil_media_stream_bitrate_bps", "Ingest bitrate (payload), bits per second.", l, nil),
		fps:        prometheus.NewDesc("vigil_media_stream_fps", "Ingest video frames per second.", l, nil),
		readers:    prometheus.NewDesc("vigil_media_stream_readers", "Attached readers.", l, nil),
		bytesIn:    prometheus.NewDesc("vigil_media_stream_received_bytes_total", "Payload bytes received from the camera.", l, nil),
		framesIn:   prometheus.NewDesc("vigil_media_stream_received_frames_total", "Video frames received from the camera.", l, nil),
		reconnects: prometheus.NewDesc("vigil_media_stream_disconnects_total", "Times the camera stream went offline.", l, nil),
		dropped:    prometheus.NewDesc("vigil_media_stream_reader_dropped_units_total", "Units dropped for slow readers of the stream.", l, nil),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.droppedUnits, m.authFailures, m.rtspRefused, m.rtspConns, m} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.online, m.bitrate, m.fps, m.readers, m.bytesIn, m.framesIn, m.reconnects, m.dropped} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.h.mu.RLock()
	var ss []*stream
	for _, c := range m.h.cams {
		ss = append(ss, c.main)
		if c.sub != nil {
			ss = append(ss, c.sub)
		}
	}
	m.h.mu.RUnlock()
	for _, s := range ss {
		st := s.state()
		l := []string{s.cameraID, string(s.variant)}
		on := 0.0
		if st.Status == StatusOnline {
			on = 1
		}
		ch <- prometheus.MustNewConstMetric(m.online, prometheus.GaugeValue, on, l...)
		ch <- prometheus.MustNewConstMetric(m.bitrate, prometheus.GaugeValue, st.Bitrate, l...)
		ch <- prometheus.MustNewConstMetric(m.fps, prometheus.GaugeValue, st.FPS, l...)
		ch <- prometheus.MustNewConstMetric(m.readers, prometheus.GaugeValue, float64(st.Readers), l...)
		ch <- prometheus.MustNewConstMetric(m.bytesIn, prometheus.CounterValue, float64(s.bytesIn.Load()), l...)
		ch <- prometheus.MustNewConstMetric(m.framesIn, prometheus.CounterValue, float64(s.framesIn.Load()), l...)
		ch <- prometheus.MustNewConstMetric(m.reconnects, prometheus.CounterValue, float64(s.reconnects.Load()), l...)
		ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.CounterValue, float64(s.dropped.Load()), l...)
	}
}
