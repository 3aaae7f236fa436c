package record

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/vigil-vms/vigil/internal/media"
)

// camRecorder records one camera: it is the hub reader (OnUnit), cuts
// segments and fragments, and tells the index writer what it wrote.
type camRecorder struct {
	s        *Service
	cameraID string
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu        sync.Mutex
	stopped   bool
	seg       *openSeg
	pend      *pendSample
	prevPTS   int64
	havePrev  bool
	lastUnit  time.Time
	lastDur   int64 // ticks of the last sample
	prevEndMS int64
	contig    bool   // the next segment continues the previous one exactly
	reason    string // why the next segment starts
	lastErr   string
	total     int64
	lastLog   time.Time
}

type pendSample struct {
	dts, pts int64
	payload  []byte
	key      bool
}

type openSeg struct {
	row       SegmentRow
	file      *segmentFile
	clock     int64
	codec     string
	dtsH264   *h264.DTSExtractor
	dtsH265   *h265.DTSExtractor
	lastDTS   int64
	frag      []*fmp4.Sample
	fragBase  uint64
	fragTicks uint64
	written   uint64 // ticks on disk
	lastIndex time.Time
	params    [][]byte // parameter sets to put in-band before keyframes
}

func newCamRecorder(s *Service, id string) *camRecorder {
	return &camRecorder{s: s, cameraID: id, reason: "start"}
}

func (r *camRecorder) start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.run(ctx) }()
	go func() { defer r.wg.Done(); r.watchdog(ctx) }()
}

func (r *camRecorder) stop() {
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	r.stopped = true
	r.finish("stop")
	r.mu.Unlock()
}

func (r *camRecorder) run(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		h, err := r.s.hub.OpenInternalReader(ctx, r.cameraID, r.s.opt.Variant, media.ProtoRecord, r)
		if err != nil {
			r.mu.Lock()
			r.lastErr = err.Error()
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		select {
		case <-h.Done():
		case <-ctx.Done():
		}
		h.Close()
		r.mu.Lock()
		r.finish("reader closed")
		r.mu.Unlock()
	}
}

func (r *camRecorder) watchdog(ctx context.Context) {
	t := time.NewTicker(r.s.opt.Silence / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.mu.Lock()
			if r.seg != nil && time.Since(r.lastUnit) > r.s.opt.Silence {
				r.finish("silence")
			}
			r.mu.Unlock()
		}
	}
}

func (r *camRecorder) status() RecorderStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RecorderStatus{CameraID: r.cameraID, LastError: r.lastErr, BytesTotal: r.total}
	if r.seg != nil {
		st.Recording, st.SegmentID, st.Since = true, r.seg.row.ID, time.UnixMilli(r.seg.row.StartMS).UTC()
	}
	return st
}

// OnOverflow: units were lost; the segment ends there so the loss is a gap
// in the index, not a hole inside a file. The hub resumes at a keyframe.
func (r *camRecorder) OnOverflow(dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.m.dropped.Add(float64(dropped))
	r.finish("overflow")
	r.reason = "overflow"
	r.havePrev = false
}

// OnUnit implements media.UnitReader.
func (r *camRecorder) OnUnit(u *media.Unit) {
	var codec string
	switch u.Format.(type) {
	case *format.H264:
		codec = "H264"
	case *format.H265:
		codec = "H265"
	default:
		return // audio is not recorded yet
	}
	size := 0
	for _, n := range u.AU {
		size += len(n)
	}
	r.s.m.bytesIn.Add(float64(size))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.lastUnit = time.Now()
	if r.seg != nil && r.havePrev {
		d := u.PTS - r.prevPTS
		thr := max(int64(r.s.opt.GapThreshold)*r.seg.clock/int64(time.Second), 4*r.lastDur)
		if d > thr || d < -thr || (r.seg.codec != codec) {
			r.finish("gap")
			r.reason = "gap"
		}
	}
	r.prevPTS, r.havePrev = u.PTS, true
	if r.seg == nil {
		if !u.RandomAccess {
			return
		}
		if !r.begin(u, codec) {
			return
		}
	}
	dts := r.seg.dts(u)
	if p := r.pend; p != nil {
		dur := dts - p.dts
		if dur <= 0 {
			dur = 1
		}
		r.lastDur = dur
		r.add(p, dur)
		r.pend = nil
		segTicks := r.seg.written + r.seg.fragTicks
		if u.RandomAccess && int64(segTicks) >= int64(r.s.opt.SegmentLength)*r.seg.clock/int64(time.Second) {
			r.finish("roll")
			r.reason = "roll"
			if !r.begin(u, codec) {
				return
			}
			dts = r.seg.dts(u)
		}
	}
	r.pend = &pendSample{dts: dts, pts: u.PTS, payload: r.seg.payload(u), key: u.RandomAccess}
}

func (g *openSeg) dts(u *media.Unit) int64 {
	var dts int64
	var err error
	switch g.codec {
	case "H264":
		dts, err = g.dtsH264.Extract(u.AU, u.PTS)
	default:
		dts, err = g.dtsH265.Extract(u.AU, u.PTS)
	}
	if err != nil || dts > u.PTS {
		dts = u.PTS
	}
	if dts <= g.lastDTS && g.lastDTS != minDTS {
		dts = g.lastDTS + 1
	}
	g.lastDTS = dts
	return dts
}

const minDTS = -1 << 62

// payload is the AVCC form of an access unit; keyframes carry the parameter
// sets in-band so a player can join or cross segments anywhere.
func (g *openSeg) payload(u *media.Unit) []byte {
	au := u.AU
	if u.RandomAccess && len(g.params) > 0 && !hasParams(g.codec, au) {
		au = append(append([][]byte{}, g.params...), au...)
	}
	b, err := h264.AVCC(au).Marshal()
	if err != nil {
		return nil
	}
	return b
}

func hasParams(codec string, au [][]byte) bool {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if codec == "H264" && h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
			return true
		}
		if codec == "H265" && h265.NALUType((n[0]>>1)&0x3f) == h265.NALUType_SPS_NUT {
			return true
		}
	}
	return false
}

// begin opens a segment at keyframe u. Called with r.mu held.
func (r *camRecorder) begin(u *media.Unit, codec string) bool {
	init, params, ok := initOf(u, codec)
	if !ok {
		r.lastErr = "no parameter sets yet"
		return false
	}
	startMS := u.NTP.UnixMilli()
	if r.contig && r.prevEndMS > 0 {
		startMS = r.prevEndMS
	} else if startMS < r.prevEndMS {
		startMS = r.prevEndMS
	}
	f, err := r.s.pickFolder()
	if err != nil {
		r.fail(err)
		return false
	}
	var sf *segmentFile
	var rel string
	for i := 0; i < 5; i++ {
		rel = relPath(r.cameraID, r.s.opt.Variant, startMS)
		var p string
		if p, err = JoinInside(f.Path, rel); err != nil {
			break
		}
		if sf, err = createSegment(p, init, !r.s.opt.NoSync); err == nil || !errors.Is(err, os.ErrExist) {
			break
		}
		startMS++
	}
	if err != nil {
		r.fail(err)
		return false
	}
	clock := int64(u.Format.ClockRate())
	g := &openSeg{file: sf, clock: clock, codec: codec, params: params, lastDTS: minDTS, lastIndex: time.Now()}
	if codec == "H264" {
		g.dtsH264 = h264.NewDTSExtractor()
	} else {
		g.dtsH265 = h265.NewDTSExtractor()
	}
	g.row = SegmentRow{ID: newID(), CameraID: r.cameraID, Variant: string(r.s.opt.Variant), StartMS: startMS, EndMS: startMS,
		Bytes: sf.size, Storage: f.Name, Path: filepath.ToSlash(rel), Codec: codec, State: StateOpen, StartReason: r.reason, Node: r.s.opt.Node}
	r.seg = g
	r.pend = nil
	r.contig = false
	r.lastErr = ""
	r.s.enqueue(indexOp{kind: "insert", seg: g.row})
	r.s.m.segments.Inc()
	return true
}

func (r *camRecorder) fail(err error) {
	r.lastErr = err.Error()
	if time.Since(r.lastLog) > 10*time.Second {
		r.lastLog = time.Now()
		r.s.log.Error("record: cannot open a segment", "camera", r.cameraID, "err", err)
	}
	r.s.m.errors.Inc()
}

func initOf(u *media.Unit, codec string) (*fmp4.Init, [][]byte, bool) {
	var c codecs.Codec
	var params [][]byte
	switch f := u.Format.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		for _, n := range u.AU {
			if len(n) == 0 {
				continue
			}
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				sps = n
			case h264.NALUTypePPS:
				pps = n
			}
		}
		if sps == nil || pps == nil {
			return nil, nil, false
		}
		c = &codecs.H264{SPS: sps, PPS: pps}
		params = [][]byte{sps, pps}
	case *format.H265:
		vps, sps, pps := f.SafeParams()
		for _, n := range u.AU {
			if len(n) == 0 {
				continue
			}
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT:
				vps = n
			case h265.NALUType_SPS_NUT:
				sps = n
			case h265.NALUType_PPS_NUT:
				pps = n
			}
		}
		if vps == nil || sps == nil || pps == nil {
			return nil, nil, false
		}
		c = &codecs.H265{VPS: vps, SPS: sps, PPS: pps}
		params = [][]byte{vps, sps, pps}
	default:
		return nil, nil, false
	}
	_ = codec
	return &fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: uint32(u.Format.ClockRate()), Codec: c}}}, params, true
}

// add appends a sample to the open fragment, writing the fragment first
// when it is long enough (preferably so the next one starts on a keyframe).
func (r *camRecorder) add(p *pendSample, dur int64) {
	g := r.seg
	fragLen := uint64(int64(r.s.opt.FragmentLength) * g.clock / int64(time.Second))
	if len(g.frag) > 0 && (g.fragTicks >= fragLen || (p.key && g.fragTicks >= fragLen/2)) {
		r.flush()
	}
	if p.payload == nil {
		return
	}
	if len(g.frag) == 0 {
		g.fragBase = g.written
	}
	g.frag = append(g.frag, &fmp4.Sample{Duration: uint32(dur), PTSOffset: int32(p.pts - p.dts), IsNonSyncSample: !p.key, Payload: p.payload})
	g.fragTicks += uint64(dur)
}

// flush writes the open fragment in one write.
func (r *camRecorder) flush() {
	g := r.seg
	if len(g.frag) == 0 {
		return
	}
	before := g.file.size
	if err := g.file.writeFragment(g.fragBase, g.frag); err != nil {
		r.fail(err)
	}
	r.s.m.bytesOut.Add(float64(g.file.size - before))
	r.total += g.file.size - before
	g.written += g.fragTicks
	g.frag, g.fragTicks = g.frag[:0], 0
	g.row.Bytes = g.file.size
	g.row.Frames = int64(g.file.frames)
	g.row.EndMS = g.row.StartMS + int64(g.written)*1000/g.clock
	if time.Since(g.lastIndex) >= r.s.opt.IndexEvery {
		g.lastIndex = time.Now()
		r.s.enqueue(indexOp{kind: "update", seg: g.row})
	}
}

// finish closes the open segment. Called with r.mu held.
func (r *camRecorder) finish(why string) {
	g := r.seg
	if g == nil {
		return
	}
	if p := r.pend; p != nil {
		dur := r.lastDur
		if dur <= 0 {
			dur = g.clock / 25
		}
		r.add(p, dur)
		r.pend = nil
	}
	r.flush()
	if err := g.file.close(); err != nil {
		r.fail(err)
	}
	g.row.State = StateOK
	if g.row.Frames == 0 {
		// nothing but the init: not footage
		_ = os.Remove(g.file.path)
		g.row.State = StateDeleting
	}
	r.s.enqueue(indexOp{kind: "update", seg: g.row})
	if g.row.State == StateDeleting {
		r.s.enqueue(indexOp{kind: "drop", seg: g.row})
	}
	r.prevEndMS = g.row.EndMS
	r.contig = why == "roll"
	r.seg = nil
	if why != "roll" {
		r.havePrev = false
	}
}
