package record_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func counter(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			var m *dto.Metric = mf.GetMetric()[0]
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// BenchmarkRecordCameras records N simulated 4 Mbit/s cameras
// (VIGIL_BENCH_CAMERAS, default 4) for VIGIL_BENCH_SECONDS (default 10) and
// reports the recorder's CPU per camera (process CPU with the recorder minus
// the same window without it: the simulator and the hub ingest are not
// counted) and bytes written / bytes received. VIGIL_BENCH_AUDIO=g711 or aac
// gives the cameras that audio track (recorded with the video).
func BenchmarkRecordCameras(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("VIGIL_BENCH_CAMERAS"))
	if n <= 0 {
		n = 4
	}
	secs, _ := strconv.Atoi(os.Getenv("VIGIL_BENCH_SECONDS"))
	if secs <= 0 {
		secs = 10
	}
	audio := os.Getenv("VIGIL_BENCH_AUDIO")
	var cams []sim.CameraSpec
	for i := 0; i < n; i++ {
		cams = append(cams, sim.CameraSpec{ID: fmt.Sprintf("cam-%03d", i), PadBitrate: 4_000_000, Audio: audio != "", AudioCodec: audio})
	}
	for i := 0; i < b.N; i++ {
		db := storetest.SQLite(b)
		reg := prometheus.NewRegistry()
		opt := record.Options{SegmentLength: 5 * time.Minute, PolicyEvery: 200 * time.Millisecond}
		rig := recordtest.Start(b, db, cams, opt)
		rec, err := record.New(record.Options{Folders: []record.Folder{{Name: "disk1", Path: rig.Dir}}, SegmentLength: 5 * time.Minute, PolicyEvery: 200 * time.Millisecond}, db, rig.Audit, rig.Hub, recordtest.Logger(), reg)
		if err != nil {
			b.Fatal(err)
		}
		window := time.Duration(secs) * time.Second
		time.Sleep(3 * time.Second) // cameras online
		c0 := cpuTime()
		time.Sleep(window)
		base := cpuTime() - c0
		rec.Start(context.Background())
		time.Sleep(2 * time.Second) // recorders attached
		in0, out0 := counter(reg, "vigil_record_received_bytes_total"), counter(reg, "vigil_record_written_bytes_total")
		c1 := cpuTime()
		time.Sleep(window)
		with := cpuTime() - c1
		in1, out1 := counter(reg, "vigil_record_received_bytes_total"), counter(reg, "vigil_record_written_bytes_total")
		rec.Stop()
		rig.Close()
		recCPU := (with - base).Seconds() / window.Seconds() / float64(n) * 100
		b.ReportMetric(float64(n), "cameras")
		b.ReportMetric(recCPU, "recorder-cpu%/camera")
		b.ReportMetric(with.Seconds()/window.Seconds()*100, "process-cpu%")
		b.ReportMetric((out1-out0)/(in1-in0), "disk/received")
		b.ReportMetric((in1-in0)*8/window.Seconds()/float64(n)/1e6, "Mbit/s/camera")
		b.ReportMetric((out1-out0)/window.Seconds()/1e6, "disk-MB/s")
	}
}
