package record

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
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

	mu      sync.Mutex
	stopped bool
	seg     *openSeg
	// tail is the segment before seg, after a roll, until its last audio
	// is in: a camera sends the keyframe that starts the next segment before
	// the audio packet that ends just before it. Its last fragment is
	// written when audio past its end arrives, or before seg's first
	// fragment, whichever is first.
	tail      *openSeg
	pend      *pendSample
	prevPTS   int64
	havePrev  bool
	lastUnit  time.Time
	lastDur   int64 // ticks of the last sample
	prevEndMS int64
	contig    bool   // the next segment continues the previous one exactly
	reason    string // why the next segment starts
	lastErr   string
	// failing: the last segment open or fragment write failed; the camera
	// is not recording until a fragment is written again.
	failing bool
	errs    int64 // failed opens and writes
	total   int64
	lastLog time.Time

	// audio of the current reader session (nil: none, or not recordable)
	audio       *audioTrack
	audioLogged bool
	apend       *audioSample  // the last audio sample, until the next one gives its duration
	aq          []audioSample // audio samples with their durations, waiting for their fragment
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
	indexed   bool     // its row is in the index: inserted with its first whole fragment
	failed    bool     // a write failed: the segment ends at its last whole fragment
	params    [][]byte // parameter sets to put in-band before keyframes
	// zero is the hub PTS (video clock) of the segment's time zero: the
	// first video sample's decode time. Audio is placed against it.
	zero     int64
	haveZero bool
	audio    *audioTrack // the segment's audio track (track 2), nil without
}

// audioTrack is the camera's first audio track, as the recorder stores it.
type audioTrack struct {
	format format.Format // the hub's format: units of this track carry this pointer
	codec  codecs.Codec  // the sample entry in the segment's init
	clock  int64         // time scale: the sample rate
	g711   *format.G711  // decoded to 16-bit big-endian LPCM on the way in
}

// audioSample is one audio sample, timed in the hub's audio clock.
type audioSample struct {
	pts     int64
	dur     int64 // nominal until the next sample is known
	payload []byte
}

// audioOf picks the first audio track of a session. It returns nil and why
// when the session has audio the recorder cannot store; nil and "" without
// audio.
func audioOf(desc *description.Session) (*audioTrack, string) {
	if desc == nil {
		return nil, ""
	}
	for _, m := range desc.Medias {
		if m.Type != description.MediaTypeAudio || len(m.Formats) == 0 {
			continue
		}
		switch f := m.Formats[0].(type) {
		case *format.G711:
			if f.SampleRate <= 0 || f.ChannelCount <= 0 {
				return nil, "G711 without a sample rate or channel count"
			}
			return &audioTrack{format: f, g711: f, clock: int64(f.SampleRate),
				codec: &codecs.LPCM{LittleEndian: false, BitDepth: 16, SampleRate: f.SampleRate, ChannelCount: f.ChannelCount}}, ""
		case *format.MPEG4Audio:
			if f.Config == nil || f.Config.SampleRate <= 0 || f.ClockRate() <= 0 {
				return nil, "AAC without a configuration"
			}
			return &audioTrack{format: f, clock: int64(f.ClockRate()), codec: &codecs.MPEG4Audio{Config: *f.Config}}, ""
		default:
			return nil, "unsupported audio codec " + m.Formats[0].Codec()
		}
	}
	return nil, ""
}

// samples turns an audio unit into samples: one per AAC access unit, one
// LPCM sample of the whole G.711 payload.
func (a *audioTrack) samples(u *media.Unit, out []audioSample) []audioSample {
	if a.g711 != nil {
		if len(u.Payload) == 0 {
			return out
		}
		var pcm []byte
		if a.g711.MULaw {
			var m g711.Mulaw
			m.Unmarshal(u.Payload)
			pcm = m
		} else {
			var l g711.Alaw
			l.Unmarshal(u.Payload)
			pcm = l
		}
		return append(out, audioSample{pts: u.PTS, dur: int64(len(u.Payload) / a.g711.ChannelCount), payload: pcm})
	}
	for i, au := range u.AU {
		if len(au) == 0 {
			continue
		}
		out = append(out, audioSample{pts: u.PTS + int64(i)*mpeg4audio.SamplesPerAccessUnit, dur: mpeg4audio.SamplesPerAccessUnit, payload: au})
	}
	return out
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
		sr := &sessionReader{r: r, ready: make(chan struct{})}
		h, err := r.s.hub.OpenInternalReader(ctx, r.cameraID, r.s.opt.Variant, media.ProtoRecord, sr)
		if err == nil {
			var why string
			sr.audio, why = audioOf(h.Session())
			if why != "" {
				r.mu.Lock()
				logIt := !r.audioLogged
				r.audioLogged = true
				r.mu.Unlock()
				if logIt {
					r.s.log.Warn("record: the camera's audio is not recorded (video only)", "camera", r.cameraID, "reason", why)
				}
			}
		}
		close(sr.ready)
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
			if (r.seg != nil || r.tail != nil) && time.Since(r.lastUnit) > r.s.opt.Silence {
				r.finish("silence")
			}
			r.mu.Unlock()
		}
	}
}

func (r *camRecorder) status() RecorderStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RecorderStatus{CameraID: r.cameraID, LastError: r.lastErr, BytesTotal: r.total, WriteErrors: r.errs}
	if r.seg != nil && !r.failing {
		st.Recording, st.SegmentID, st.Since = true, r.seg.row.ID, time.UnixMilli(r.seg.row.StartMS).UTC()
	}
	return st
}

// sessionReader is the hub reader of one reader session. Units wait until
// the session's description is known (the hub may deliver its GOP cache
// before OpenInternalReader returns), so the first segment already has the
// audio track.
type sessionReader struct {
	r     *camRecorder
	ready chan struct{}
	audio *audioTrack // set before ready is closed
}

// OnUnit implements media.UnitReader.
func (sr *sessionReader) OnUnit(u *media.Unit) {
	<-sr.ready
	sr.r.onUnit(u, sr.audio)
}

// OnOverflow implements media.OverflowReader.
func (sr *sessionReader) OnOverflow(dropped int) { sr.r.OnOverflow(dropped) }

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

// onUnit takes one unit of a reader session whose audio track is audio.
func (r *camRecorder) onUnit(u *media.Unit, audio *audioTrack) {
	var codec string
	switch u.Format.(type) {
	case *format.H264:
		codec = "H264"
	case *format.H265:
		codec = "H265"
	default:
		if audio != nil && u.Format == audio.format {
			r.onAudio(u, audio)
		}
		return
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
	r.audio = audio
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
		if r.seg.failed {
			// Nothing of the fragment reached the file: the segment ends at
			// its last whole fragment, and the next one starts at a later
			// keyframe at its own time, so the loss is a gap in the index.
			r.finish("write_error")
			r.reason = "write_error"
			return
		}
		segTicks := r.seg.written + r.seg.fragTicks
		if u.RandomAccess && int64(segTicks) >= int64(r.s.opt.SegmentLength)*r.seg.clock/int64(time.Second) {
			r.finish("roll")
			r.reason = "roll"
			if !r.begin(u, codec) {
				r.closeTail()
				return
			}
			dts = r.seg.dts(u)
		}
	}
	r.pend = &pendSample{dts: dts, pts: u.PTS, payload: r.seg.payload(u), key: u.RandomAccess}
}

// onAudio queues an audio unit's samples for the open segment's fragments.
// A sample's duration is the distance to the next one, so the track stays
// on the camera's clock and a lost packet is a longer sample, not a shift.
func (r *camRecorder) onAudio(u *media.Unit, audio *audioTrack) {
	r.s.m.bytesIn.Add(float64(len(u.Payload) + auSize(u.AU)))
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.seg
	if cur == nil {
		cur = r.tail
	}
	switch {
	case r.stopped:
		return
	case cur == nil:
		// Before the first keyframe of a segment: nothing to put it with.
		r.apend, r.aq = nil, r.aq[:0]
		return
	case cur.audio != audio:
		return // a unit of an earlier reader session, delivered late
	}
	var buf [4]audioSample
	for _, s := range audio.samples(u, buf[:0]) {
		if p := r.apend; p != nil {
			if s.pts <= p.pts {
				continue // not after the last one: a duplicate
			}
			p.dur = s.pts - p.pts
			r.aq = append(r.aq, *p)
		}
		r.apend = &s
	}
	if t := r.tail; t != nil && r.apend != nil && r.apend.pts >= t.audioEnd() {
		r.closeTail() // every sample of its time is in
	}
}

func auSize(au [][]byte) int {
	n := 0
	for _, b := range au {
		n += len(b)
	}
	return n
}

// audioZero is the segment's time zero in the audio clock.
func (g *openSeg) audioZero() int64 {
	return floorDiv(g.zero*g.audio.clock, g.clock)
}

// audioEnd is, in the audio clock, where the segment's video ends once its
// open fragment is written.
func (g *openSeg) audioEnd() int64 {
	return g.audioZero() + floorDiv(int64(g.written+g.fragTicks)*g.audio.clock, g.clock)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// audioRun takes the queued audio samples that start before the video
// written so far ends (and, at the end of a segment, the last sample too),
// as the audio track of the fragment being written. Samples from before the
// segment's start are dropped; later ones wait for the next fragment (or,
// when the segment rolls over, the next segment).
func (r *camRecorder) audioRun(g *openSeg, final bool) *fmp4.PartTrack {
	if g.audio == nil || !g.haveZero {
		return nil
	}
	zero, end := g.audioZero(), g.audioEnd()
	if p := r.apend; final && p != nil && p.pts < end {
		r.aq = append(r.aq, *p)
		r.apend = nil
	}
	n := 0
	for n < len(r.aq) && r.aq[n].pts < end {
		n++
	}
	var pt *fmp4.PartTrack
	for _, a := range r.aq[:n] {
		if a.pts < zero {
			continue
		}
		if pt == nil {
			pt = &fmp4.PartTrack{BaseTime: uint64(a.pts - zero)}
		}
		pt.Samples = append(pt.Samples, &fmp4.Sample{Duration: uint32(min(a.dur, 1<<31)), Payload: a.payload})
	}
	r.aq = append(r.aq[:0], r.aq[n:]...)
	return pt
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
	if !g.haveZero {
		g.zero, g.haveZero = dts, true
	}
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
	init, params, ok := initOf(u, codec, r.audio)
	if !ok {
		r.lastErr = "no parameter sets yet"
		return false
	}
	// A segment starts at its first frame's time. Only a roll that opens the
	// next segment on the very keyframe that ended the last one continues it
	// exactly; once an attempt fails, frames are lost in between and the
	// next segment starts at its own time.
	startMS := u.NTP.UnixMilli()
	contig := r.contig
	r.contig = false
	if contig && r.prevEndMS > 0 {
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
		if sf, err = createSegment(p, init, !r.s.opt.NoSync, r.s.opt.openFile); err == nil || !errors.Is(err, os.ErrExist) {
			break
		}
		startMS++
	}
	if err != nil {
		r.fail(err)
		return false
	}
	clock := int64(u.Format.ClockRate())
	g := &openSeg{file: sf, clock: clock, codec: codec, params: params, lastDTS: minDTS, lastIndex: time.Now(), audio: r.audio}
	if codec == "H264" {
		g.dtsH264 = h264.NewDTSExtractor()
	} else {
		g.dtsH265 = h265.NewDTSExtractor()
	}
	g.row = SegmentRow{ID: newID(), CameraID: r.cameraID, Variant: string(r.s.opt.Variant), StartMS: startMS, EndMS: startMS,
		Bytes: sf.size, Storage: f.Name, Path: filepath.ToSlash(rel), Codec: codec, State: StateOpen, StartReason: r.reason, Node: r.s.opt.Node}
	r.seg = g
	r.pend = nil
	// The row goes in with the first whole fragment: a segment whose every
	// write fails is never indexed (reconcile removes a header-only file).
	r.s.m.segments.Inc()
	return true
}

// fail records a failed segment open or write: the camera is not recording
// until a fragment is written again. Called with r.mu held.
func (r *camRecorder) fail(err error) {
	r.lastErr = err.Error()
	r.errs++
	r.reason = "write_error" // the next segment starts after lost frames
	if !r.failing {
		r.failing = true
		poke(r.s.changes)
	}
	if time.Since(r.lastLog) > 10*time.Second {
		r.lastLog = time.Now()
		r.s.log.Error("record: cannot write", "camera", r.cameraID, "err", err)
	}
	r.s.m.errors.Inc()
}

// wrote records a whole fragment on disk: the camera is recording.
func (r *camRecorder) wrote() {
	r.lastErr = ""
	if r.failing {
		r.failing = false
		r.lastLog = time.Time{}
		r.s.log.Info("record: writing again", "camera", r.cameraID)
	}
	poke(r.s.changes)
}

func initOf(u *media.Unit, codec string, audio *audioTrack) (*fmp4.Init, [][]byte, bool) {
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
	init := &fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: videoTrackID, TimeScale: uint32(u.Format.ClockRate()), Codec: c}}}
	if audio != nil {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: audioTrackID, TimeScale: uint32(audio.clock), Codec: audio.codec})
	}
	return init, params, true
}

// add appends a sample to the open fragment, writing the fragment first
// when it is long enough (preferably so the next one starts on a keyframe).
func (r *camRecorder) add(p *pendSample, dur int64) {
	g := r.seg
	fragLen := uint64(int64(r.s.opt.FragmentLength) * g.clock / int64(time.Second))
	if len(g.frag) > 0 && (g.fragTicks >= fragLen || (p.key && g.fragTicks >= fragLen/2)) {
		r.flush(g, false)
	}
	if p.payload == nil || g.failed {
		return
	}
	if len(g.frag) == 0 {
		g.fragBase = g.written
	}
	g.frag = append(g.frag, &fmp4.Sample{Duration: uint32(dur), PTSOffset: int32(p.pts - p.dts), IsNonSyncSample: !p.key, Payload: p.payload})
	g.fragTicks += uint64(dur)
}

// flush writes the open fragment in one write, with the audio received for
// its time span; final at the end of the segment.
func (r *camRecorder) flush(g *openSeg, final bool) {
	if len(g.frag) == 0 {
		return
	}
	if g == r.seg {
		r.closeTail() // its audio cannot wait longer: seg's takes over
	}
	before := g.file.size
	audio := r.audioRun(g, final)
	err := r.s.room(g.row.Storage, fragEstimate(g.frag, audio))
	if err == nil {
		err = g.file.writeFragment(g.fragBase, g.frag, audio)
	}
	if err != nil {
		// Nothing of it is in the file; nothing of it is counted. The
		// segment ends at its last whole fragment (see onUnit, finish).
		r.fail(err)
		g.failed = true
		g.frag, g.fragTicks = g.frag[:0], 0
		return
	}
	r.s.m.bytesOut.Add(float64(g.file.size - before))
	r.total += g.file.size - before
	g.written += g.fragTicks
	g.frag, g.fragTicks = g.frag[:0], 0
	g.row.Bytes = g.file.size
	g.row.Frames = int64(g.file.frames)
	g.row.EndMS = g.row.StartMS + int64(g.written)*1000/g.clock
	if !g.indexed || r.failing {
		r.wrote()
	}
	switch {
	case !g.indexed:
		g.indexed = true
		g.lastIndex = time.Now()
		r.s.enqueue(indexOp{kind: "insert", seg: g.row})
	case time.Since(g.lastIndex) >= r.s.opt.IndexEvery:
		g.lastIndex = time.Now()
		r.s.enqueue(indexOp{kind: "update", seg: g.row})
	}
}

// fragEstimate bounds a fragment's size on disk: its samples and their
// boxes (moof, trafs and 16 bytes of trun per sample).
func fragEstimate(video []*fmp4.Sample, audio *fmp4.PartTrack) int64 {
	n := int64(256 + 16*len(video))
	for _, s := range video {
		n += int64(len(s.Payload))
	}
	if audio != nil {
		n += int64(128 + 16*len(audio.Samples))
		for _, s := range audio.Samples {
			n += int64(len(s.Payload))
		}
	}
	return n
}

// finish closes the open segment. Called with r.mu held. On a roll, a
// segment with audio becomes the tail (closed by closeTail).
func (r *camRecorder) finish(why string) {
	g := r.seg
	if g == nil {
		r.closeTail()
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
	r.seg = nil
	r.prevEndMS = g.row.StartMS + int64(g.written+g.fragTicks)*1000/g.clock
	r.contig = why == "roll" && !g.failed
	if why != "roll" {
		r.havePrev = false
	}
	r.closeTail()
	if why == "roll" && g.audio != nil && len(g.frag) > 0 {
		r.tail = g
		return
	}
	r.close(g)
	if why != "roll" {
		// The next segment starts after a gap: queued audio is not its.
		r.apend, r.aq = nil, r.aq[:0]
	}
}

// closeTail closes the tail segment, if any, with the audio received so far.
func (r *camRecorder) closeTail() {
	if g := r.tail; g != nil {
		r.tail = nil
		r.close(g)
	}
}

// close writes a segment's last fragment, closes its file and indexes it.
func (r *camRecorder) close(g *openSeg) {
	if !g.failed {
		r.flush(g, true)
	}
	if err := g.file.close(); err != nil {
		r.fail(err)
	}
	if !g.indexed {
		// No whole fragment was ever written: not footage, never indexed.
		_ = os.Remove(g.file.path)
		return
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
}
