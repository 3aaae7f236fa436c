package record

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type noHub struct{}

func (noHub) OpenInternalReader(context.Context, string, media.Variant, media.Protocol, media.UnitReader) (media.ReaderHandle, error) {
	return nil, media.ErrUnavailable
}
func (noHub) States() []media.State { return nil }

// clipAUs splits the simulator's H.264 clip (an AUD before each access
// unit) into access units without the AUDs.
func clipAUs(b *testing.B) [][][]byte {
	buf, err := os.ReadFile("../sim/clips/h264_1280x720.h264")
	if err != nil {
		b.Fatal(err)
	}
	var nalus [][]byte
	start, zeros := -1, 0
	for i, c := range buf {
		if c == 0 {
			zeros++
			continue
		}
		if c == 1 && zeros >= 2 {
			if start >= 0 {
				nalus = append(nalus, buf[start:i-zeros])
			}
			start = i + 1
		}
		zeros = 0
	}
	nalus = append(nalus, buf[start:])
	var aus [][][]byte
	for _, n := range nalus {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
			aus = append(aus, nil)
			continue
		}
		if len(aus) > 0 {
			aus[len(aus)-1] = append(aus[len(aus)-1], n)
		}
	}
	return aus
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecorderPath: the recorder alone, fed one camera's units in
// memory (no simulator, no hub): an op is one second of a 4 Mbit/s, 25 fps
// H.264 camera (the simulator's clip padded to 20 kB a frame) with no
// audio, G.711 (50 packets of 160 bytes, stored as LPCM) or AAC (16 kHz,
// 15.6 access units). Segments of 5 min, fragments of 1 s, written to a
// temporary folder without fsync (the CPU of the path, not the disk's
// latency). cpu-%/camera is the process CPU per camera-second.
func BenchmarkRecorderPath(b *testing.B) {
	aus := clipAUs(b)
	var sps, pps []byte
	for _, n := range aus[0] {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
	}
	pad := make([]byte, 20000)
	pad[0] = byte(h264.NALUTypeFillerData)
	for i := 1; i < len(pad)-1; i++ {
		pad[i] = 0xff
	}
	pad[len(pad)-1] = 0x80
	vf := &format.H264{PayloadTyp: 96, SPS: sps, PPS: pps, PacketizationMode: 1}
	aac := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 16000, ChannelConfig: 1, ChannelCount: 1}
	for _, tc := range []struct {
		name string
		f    format.Format
	}{{"none", nil}, {"g711", &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}},
		{"aac", &format.MPEG4Audio{PayloadTyp: 97, Config: aac, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}}} {
		b.Run(tc.name, func(b *testing.B) {
			db := storetest.SQLite(b)
			s, err := New(Options{Folders: []Folder{{Name: "disk1", Path: b.TempDir()}}, NoSync: true}, db, nil, noHub{}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			s.Start(context.Background())
			defer s.Stop()
			desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{vf}}}}
			if tc.f != nil {
				desc.Medias = append(desc.Medias, &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{tc.f}})
			}
			audio, _ := audioOf(desc)
			r := newCamRecorder(s, "cam-bench")
			g711 := make([]byte, 160)
			aacAU := make([]byte, 60)
			var vi, ai int64
			b.ResetTimer()
			c0 := cpuNow()
			for i := 0; i < b.N; i++ {
				for f := 0; f < 25; f++ {
					au := append(aus[vi%int64(len(aus))][:len(aus[vi%int64(len(aus))]):len(aus[vi%int64(len(aus))])], pad)
					r.onUnit(&media.Unit{Format: vf, PTS: vi * 3600, NTP: time.Now(), RandomAccess: h264.IsRandomAccess(au), AU: au}, audio)
					vi++
					// the audio due up to this frame's time
					switch a := tc.f.(type) {
					case *format.G711:
						for ; ai*160*90000 < vi*3600*8000; ai++ {
							r.onUnit(&media.Unit{Format: a, PTS: ai * 160, NTP: time.Now(), RandomAccess: true, Payload: g711}, audio)
						}
					case *format.MPEG4Audio:
						for ; ai*1024*90000 < vi*3600*16000; ai++ {
							r.onUnit(&media.Unit{Format: a, PTS: ai * 1024, NTP: time.Now(), RandomAccess: true, AU: [][]byte{aacAU}}, audio)
						}
					}
				}
			}
			cpu := cpuNow() - c0
			b.StopTimer()
			r.mu.Lock()
			r.finish("stop")
			r.mu.Unlock()
			b.ReportMetric(cpu.Seconds()/float64(b.N)*100, "cpu-%/camera")
		})
	}
}

// BenchmarkReserveCheck: what the recorder adds to every fragment for the
// reserve (a statfs of the storage folder and the arithmetic), on its own,
// so the figure does not drown in the noise of the whole path.
func BenchmarkReserveCheck(b *testing.B) {
	s, err := New(Options{Folders: []Folder{{Name: "disk1", Path: b.TempDir()}}, ReserveBytes: 1 << 20}, storetest.SQLite(b), nil, noHub{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.room("disk1", 500_000); err != nil {
			b.Fatal(err)
		}
	}
}
