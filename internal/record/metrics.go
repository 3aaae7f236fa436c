package record

import (
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	cameras  prometheus.Gauge
	segments prometheus.Counter
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
	dropped  prometheus.Counter
	errors   prometheus.Counter
	deleted  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		cameras:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_record_cameras", Help: "Cameras being recorded by this node."}),
		segments: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_record_segments_total", Help: "Segments opened."}),
		bytesIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_record_received_bytes_total", Help: "Video bytes received from the hub by the recorder."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_record_written_bytes_total", Help: "Bytes written to segment files."}),
		dropped:  prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_record_dropped_units_total", Help: "Units the recorder lost to a full queue."}),
		errors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_record_errors_total", Help: "Segment open or write errors."}),
		deleted:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_record_deleted_bytes_total", Help: "Bytes of footage deleted, by reason."}, []string{"reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.cameras, m.segments, m.bytesIn, m.bytesOut, m.dropped, m.errors, m.deleted} {
			_ = reg.Register(c)
		}
	}
	return m
}

func statfsUsage(path string) (used, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	total = st.Blocks * uint64(st.Bsize)
	free := st.Bavail * uint64(st.Bsize)
	if free > total {
		free = total
	}
	return total - free, total, nil
}
