package sim

import (
	"embed"
	"fmt"
	"sync"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// The clips are generated once by clips/make.sh and embedded so that neither
// the build nor the tests need ffmpeg to run a simulated camera.
//
//go:embed clips/*.h264 clips/*.h265 clips/*.ulaw clips/*.aac
var clipFS embed.FS

const (
	clipFPS        = 25
	videoClockRate = 90000
	frameTicks     = videoClockRate / clipFPS
	audioRate      = 8000
	audioChunk     = audioRate / 50 // 20 ms per packet, the usual G.711 ptime
	aacRate        = 16000          // the AAC clip: AAC-LC, 16 kHz mono
)

// clip is one looped video: access units in decode order (no B-frames, so
// decode order is presentation order), each a list of NAL units without AUD.
type clip struct {
	codec         string
	width, height int
	aus           [][][]byte
	vps, sps, pps []byte
}

var (
	clipsOnce sync.Once
	clipsErr  error
	clips     map[string]*clip // key: codec + "_" + WxH
	audioClip []byte
	aacClip   [][]byte // AAC access units (1024 samples each)
	aacConfig *mpeg4audio.AudioSpecificConfig
)

func clipKey(codec string, w, h int) string { return fmt.Sprintf("%s_%dx%d", codec, w, h) }

func loadClips() error {
	clipsOnce.Do(func() {
		clips = map[string]*clip{}
		for _, c := range []struct {
			codec string
			w, h  int
		}{{"h264", 1280, 720}, {"h264", 640, 360}, {"h265", 1280, 720}, {"h265", 640, 360}} {
			ext := c.codec
			buf, err := clipFS.ReadFile(fmt.Sprintf("clips/%s_%dx%d.%s", c.codec, c.w, c.h, ext))
			if err != nil {
				clipsErr = err
				return
			}
			cl, err := parseAnnexB(c.codec, buf)
			if err != nil {
				clipsErr = fmt.Errorf("clip %s %dx%d: %w", c.codec, c.w, c.h, err)
				return
			}
			cl.width, cl.height = c.w, c.h
			clips[clipKey(c.codec, c.w, c.h)] = cl
		}
		if audioClip, clipsErr = clipFS.ReadFile("clips/g711u_8000.ulaw"); clipsErr != nil {
			return
		}
		aacClip, aacConfig, clipsErr = loadAAC("clips/aac_16000.aac")
	})
	return clipsErr
}

// loadAAC reads a pre-encoded ADTS clip into access units and their
// configuration (no encoder is needed at run time).
func loadAAC(name string) ([][]byte, *mpeg4audio.AudioSpecificConfig, error) {
	buf, err := clipFS.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(buf); err != nil {
		return nil, nil, fmt.Errorf("clip %s: %w", name, err)
	}
	if len(pkts) == 0 {
		return nil, nil, fmt.Errorf("clip %s: no access units", name)
	}
	aus := make([][]byte, len(pkts))
	for i, p := range pkts {
		aus[i] = p.AU
	}
	p := pkts[0]
	return aus, &mpeg4audio.AudioSpecificConfig{Type: p.Type, SampleRate: p.SampleRate, ChannelConfig: p.ChannelConfig, ChannelCount: p.ChannelCount}, nil
}

// parseAnnexB splits an Annex-B stream into access units at every AUD (the
// generator inserts one before each access unit) and keeps the first
// parameter sets for the SDP.
func parseAnnexB(codec string, buf []byte) (*clip, error) {
	nalus := splitAnnexB(buf)
	cl := &clip{codec: codec}
	var cur [][]byte
	flush := func() {
		if len(cur) > 0 {
			cl.aus = append(cl.aus, cur)
			cur = nil
		}
	}
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		if codec == "h264" {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeAccessUnitDelimiter:
				flush()
				continue
			case h264.NALUTypeSPS:
				if cl.sps == nil {
					cl.sps = n
				}
			case h264.NALUTypePPS:
				if cl.pps == nil {
					cl.pps = n
				}
			}
		} else {
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_AUD_NUT:
				flush()
				continue
			case h265.NALUType_VPS_NUT:
				if cl.vps == nil {
					cl.vps = n
				}
			case h265.NALUType_SPS_NUT:
				if cl.sps == nil {
					cl.sps = n
				}
			case h265.NALUType_PPS_NUT:
				if cl.pps == nil {
					cl.pps = n
				}
			}
		}
		cur = append(cur, n)
	}
	flush()
	if len(cl.aus) == 0 || cl.sps == nil || cl.pps == nil || (codec == "h265" && cl.vps == nil) {
		return nil, fmt.Errorf("no access units or parameter sets")
	}
	return cl, nil
}

// filler returns a filler-data NAL unit of about n bytes; decoders discard it,
// so it inflates the bitrate to a benchmark's target without storing big clips.
func filler(codec string, n int) []byte {
	if n < 4 {
		n = 4
	}
	b := make([]byte, n)
	if codec == "h264" {
		b[0] = byte(h264.NALUTypeFillerData)
		for i := 1; i < n-1; i++ {
			b[i] = 0xff
		}
	} else {
		b[0] = byte(h265.NALUType_FD_NUT) << 1
		b[1] = 1
		for i := 2; i < n-1; i++ {
			b[i] = 0xff
		}
	}
	b[n-1] = 0x80 // rbsp_trailing_bits
	return b
}

// splitAnnexB splits a whole Annex-B file at its start codes (00 00 01 or
// 00 00 00 01). mediacommon's AnnexB.Unmarshal caps the NAL count at one
// access unit's worth, so it cannot take a file of many access units.
func splitAnnexB(buf []byte) [][]byte {
	var out [][]byte
	start := -1
	zeros := 0
	for i, b := range buf {
		switch {
		case b == 0:
			zeros++
			continue
		case b == 1 && zeros >= 2:
			if start >= 0 {
				end := i - zeros
				if end > start {
					out = append(out, buf[start:end])
				}
			}
			start = i + 1
		}
		zeros = 0
	}
	if start >= 0 && start < len(buf) {
		out = append(out, buf[start:])
	}
	return out
}
