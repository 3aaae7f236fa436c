package federation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/registry"
)

// Footage across tiers (issue 5 item 5, second half): a permitted tier-1
// user plays or extracts a lower site's recordings. Tier 1 keeps no copy of
// a lower site's footage and never dials in; it asks over the leaf link
// (vigil.footage.<site>, request/reply) and the lower site answers from its
// own recorder:
//
//   - timeline: the recorded spans and gaps of a range;
//   - clip_open, clip_read, clip_close: the MP4 of a range (the lower site's
//     playback plan), read by tier 1 in chunks as its viewer's player asks
//     (HTTP Range requests at tier 1 become chunk reads, see remote.go); the
//     lower site audits the playback on behalf of the tier-1 user;
//   - export, export_read, export_release: the lower site extracts the range
//     itself (its signed manifest, its retention lock, its audit entry naming
//     the tier-1 performer, purpose and requester); tier 1 copies the file
//     into its own evidence store and audits the extraction there as well.
//
// Tier 1 has made its access decision before it asks; the lower site only
// answers for cameras it shares upward (never a classified one).

// ErrNotShared is a lower site refusing footage of a camera it does not
// share with tier 1.
var ErrNotShared = errors.New("federation: the lower site does not share this camera")

// ErrRemote is a lower site failing to answer a footage request (its own
// log says why).
var ErrRemote = errors.New("federation: the lower site could not serve the footage")

const (
	clipIdle     = 2 * time.Minute // a clip nobody read for this long is closed
	maxOpenClips = 256
	footageConc  = 8 // footage requests a lower site serves at once
	exportConc   = 2 // exports it runs at once (each writes a whole file), apart from those
)

// openClip is an MP4 a lower site keeps open for tier 1.
type openClip struct {
	plan *playback.Plan
	used time.Time
}

type clipTable struct {
	mu sync.Mutex
	m  map[string]*openClip
}

func newClipID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "cl-" + hex.EncodeToString(b[:])
}

// answerFootage serves tier 1's footage requests, a few at a time (a read
// is a disk read of up to footageChunk). Exports, which write a whole file,
// take slots of their own, so a few long extractions never hold up the
// chunk reads of someone watching.
func (sh *shipper) answerFootage(m *nats.Msg) {
	s := sh.s
	sem := s.footageSem
	if isExport(m.Data) {
		sem = s.exportSem
	}
	select {
	case sem <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	if s.ctx.Err() != nil {
		<-sem
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-sem }()
		site := s.d.Cfg.Site.ID
		req, err := DecodeFootageRequest(m.Data)
		if err == nil && s.creds != nil && req.By != nil && req.By.Site != s.creds.HubSiteID {
			err = fmt.Errorf("federation: footage asked for site %q, not our tier 1", req.By.Site)
		}
		if err == nil && s.d.Playback == nil {
			err = errors.New("federation: this site does not record")
		}
		if err != nil {
			respondFootage(m, site, nil, &footageRefusal{code: "invalid", msg: err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, 2*time.Minute)
		defer cancel()
		if req.Op == OpClipRead || req.Op == OpExportRead || req.Op == OpSegmentRead {
			data, err := s.readFootage(ctx, req)
			if err != nil {
				respondFootage(m, site, nil, s.refusal(req, err))
				return
			}
			hdr := nats.Header{}
			hdr.Set("Vigil-Site", site)
			_ = m.RespondMsg(&nats.Msg{Data: data, Header: hdr})
			return
		}
		rep, err := s.footageOp(ctx, req)
		if err != nil {
			respondFootage(m, site, nil, s.refusal(req, err))
			return
		}
		respondFootage(m, site, &rep, nil)
	}()
}

// isExport tells an export request by its op before it is decoded (the
// decode happens on the worker; a request that lies here is still decoded
// and checked there).
func isExport(data []byte) bool {
	var r struct {
		Op string `json:"op"`
	}
	return len(data) <= maxFootageReq && json.Unmarshal(data, &r) == nil && r.Op == OpExport
}

type footageRefusal struct{ code, field, msg string }

// refusal turns an error into what tier 1 may be told: known refusals by
// code; anything else only as "failed" (the detail stays in this log).
func (s *Service) refusal(req FootageRequest, err error) *footageRefusal {
	var fe *playback.FieldError
	switch {
	case errors.Is(err, playback.ErrNoFootage):
		return &footageRefusal{code: "no_footage", msg: err.Error()}
	case errors.Is(err, playback.ErrTooLong):
		return &footageRefusal{code: "too_long", field: "to", msg: err.Error()}
	case errors.Is(err, playback.ErrRateLimited):
		return &footageRefusal{code: "rate_limited", msg: err.Error()}
	case errors.As(err, &fe):
		return &footageRefusal{code: "invalid", field: fe.Field, msg: fe.Message}
	case errors.Is(err, ErrNotFound), errors.Is(err, playback.ErrNotFound), errors.Is(err, record.ErrNotFound):
		return &footageRefusal{code: "not_found", msg: "not found"}
	case errors.Is(err, ErrNotShared):
		return &footageRefusal{code: "not_shared", msg: ErrNotShared.Error()}
	}
	if s.ctx.Err() == nil {
		s.log.Warn("federation: footage request failed", "op", req.Op, "camera", req.Camera, "err", err)
	}
	return &footageRefusal{code: "failed", msg: "the site could not serve this request"}
}

func respondFootage(m *nats.Msg, site string, rep *FootageReply, ref *footageRefusal) {
	if rep == nil {
		rep = &FootageReply{}
	}
	rep.SiteID = site
	rep.OK = ref == nil
	hdr := nats.Header{}
	hdr.Set("Vigil-Site", site)
	if ref != nil {
		rep.Code, rep.Field, rep.Error = ref.code, ref.field, ref.msg
		hdr.Set(codeHeader, ref.code)
		hdr.Set(messageHeader, ref.msg)
	}
	b, _ := json.Marshal(rep)
	_ = m.RespondMsg(&nats.Msg{Data: b, Header: hdr})
}

// sharedCamera is a camera of this site that it shares upward.
func (s *Service) sharedCamera(ctx context.Context, id string) (registry.Camera, error) {
	c, err := s.d.Registry.GetCamera(ctx, id)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return c, ErrNotFound
		}
		return c, err
	}
	own := &shipper{s: s, sysCache: map[string]registry.System{}}
	ok, err := own.shared(ctx, c)
	if err != nil {
		return c, err
	}
	if !ok {
		return c, ErrNotShared
	}
	// A camera this site holds for a site below it is not its to give.
	if o, err := s.d.Registry.OriginSite(ctx, id); err != nil || o != "" {
		return c, ErrNotShared
	}
	return c, nil
}

func (s *Service) footageOp(ctx context.Context, req FootageRequest) (FootageReply, error) {
	var rep FootageReply
	switch req.Op {
	case OpClipClose:
		s.clips.mu.Lock()
		c := s.clips.m[req.ID]
		delete(s.clips.m, req.ID)
		s.clips.mu.Unlock()
		if c != nil {
			c.plan.Close()
		}
		return rep, nil
	case OpExportFree:
		ex, err := s.d.Playback.Get(ctx, req.ID)
		if err != nil {
			return rep, err
		}
		if !playback.PerformedFor(ex, req.By.Site) {
			return rep, ErrNotFound // only what tier 1 extracted
		}
		if !ex.Locked {
			return rep, nil
		}
		by := req.By
		return rep, s.d.Playback.Release(ctx, ex, playback.EvidencePerson{ID: by.ref(), Name: by.Username, Org: by.Org}, "federation:"+by.Site)
	}
	cam, err := s.sharedCamera(ctx, req.Camera)
	if err != nil {
		return rep, err
	}
	from, to := time.UnixMilli(req.From).UTC(), time.UnixMilli(req.To).UTC()
	switch req.Op {
	case OpSegmentStat:
		_, size, err := s.segmentFile(ctx, cam.ID, req.ID)
		if err != nil {
			return rep, err
		}
		rep.Size = size
	case OpHLS:
		pl, _, err := playback.HLSPlaylist(ctx, s.d.DB.Q(), s.d.Playback.Resolver(), cam.ID, from, to, func(id string) string { return segRef + id })
		if err != nil {
			return rep, err
		}
		if err := s.auditPlayback(ctx, req.By, cam.ID, "hls", from, to); err != nil {
			return rep, err
		}
		rep.Playlist = pl
	case OpTimeline:
		tl, err := playback.TimelineOf(ctx, s.d.DB.Q(), cam.ID, from, to)
		if err != nil {
			return rep, err
		}
		rep.Timeline = &tl
	case OpClipOpen:
		plan, err := s.d.Playback.Plan(ctx, cam.ID, from, to)
		if err != nil {
			return rep, err
		}
		if err := s.auditPlayback(ctx, req.By, cam.ID, "mp4", plan.Start, plan.End); err != nil {
			plan.Close()
			return rep, err
		}
		id := newClipID()
		s.clips.mu.Lock()
		if s.clips.m == nil {
			s.clips.m = map[string]*openClip{}
		}
		if len(s.clips.m) >= maxOpenClips {
			s.clips.mu.Unlock()
			plan.Close()
			return rep, errors.New("federation: too many open clips")
		}
		s.clips.m[id] = &openClip{plan: plan, used: time.Now()}
		s.clips.mu.Unlock()
		rep.Clip = &ClipInfo{ID: id, Size: plan.Size(), Start: plan.Start, End: plan.End, Gaps: plan.Gaps, Codec: plan.Codec}
	case OpExport:
		by := req.By
		ex, err := s.d.Playback.Create(ctx, playback.ExportRequest{
			Camera: playback.CameraRef{ID: cam.ID, Name: cam.Name, SystemID: cam.SystemID}, From: from, To: to,
			Purpose: req.Purpose, Requester: *req.Requester,
			Performer: playback.EvidencePerson{ID: by.ref(), Name: by.Username, Org: by.Org}, Remote: "federation:" + by.Site})
		if err != nil {
			return rep, err
		}
		rep.Export = &ex
	}
	return rep, nil
}

// segmentFile is a finished recorded segment of camera (main stream), for
// tier 1's HLS player: its path and size.
func (s *Service) segmentFile(ctx context.Context, cameraID, id string) (string, int64, error) {
	g, err := record.GetSegment(ctx, s.d.DB.Q(), id)
	if err != nil {
		return "", 0, err
	}
	if g.CameraID != cameraID || g.Variant != string(media.Main) || g.State != record.StateOK {
		return "", 0, ErrNotFound
	}
	p, err := s.d.Playback.Resolver().SegmentPath(g.Storage, g.Path)
	if err != nil {
		return "", 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", 0, ErrNotFound
	}
	return p, fi.Size(), nil
}

// auditPlayback writes a playback by a tier-1 user into this site's log.
func (s *Service) auditPlayback(ctx context.Context, by *Viewer, cameraID, proto string, from, to time.Time) error {
	_, err := s.d.Audit.Append(ctx, s.d.DB.Q(), audit.Entry{ActorID: by.ref(), Actor: by.Username, Org: by.Org,
		Action: "playback.start", Object: "camera/" + cameraID, Outcome: audit.OK, Remote: "federation:" + by.Site,
		Details: map[string]any{"protocol": proto, "via_site": by.Site, "viewer_remote": by.Remote,
			"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano)}})
	return err
}

func (s *Service) readFootage(ctx context.Context, req FootageRequest) ([]byte, error) {
	if req.Op == OpSegmentRead {
		if _, err := s.sharedCamera(ctx, req.Camera); err != nil {
			return nil, err
		}
		p, size, err := s.segmentFile(ctx, req.Camera, req.ID)
		if err != nil {
			return nil, err
		}
		return readFileChunk(p, size, req.Off, req.N)
	}
	if req.Op == OpClipRead {
		s.clips.mu.Lock()
		c := s.clips.m[req.ID]
		if c != nil {
			c.used = time.Now()
		}
		s.clips.mu.Unlock()
		if c == nil {
			return nil, ErrNotFound
		}
		return readChunk(c.plan, c.plan.Size(), req.Off, req.N)
	}
	ex, err := s.d.Playback.Get(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	if !playback.PerformedFor(ex, req.By.Site) {
		return nil, ErrNotFound
	}
	p, err := s.d.Playback.FilePath(ex)
	if err != nil {
		return nil, err
	}
	return readFileChunk(p, ex.Bytes, req.Off, req.N)
}

// readFileChunk reads n bytes at off of the file at p (size bytes long).
func readFileChunk(p string, size, off int64, n int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, ErrNotFound
	}
	defer f.Close()
	return readChunk(f, size, off, n)
}

type readerAt interface {
	ReadAt(b []byte, off int64) (int, error)
}

func readChunk(r readerAt, size, off int64, n int) ([]byte, error) {
	if off >= size {
		return []byte{}, nil
	}
	if rest := size - off; int64(n) > rest {
		n = int(rest)
	}
	b := make([]byte, n)
	k, err := r.ReadAt(b, off)
	if k == n {
		return b, nil
	}
	if err == nil {
		err = fmt.Errorf("short read at %s", strconv.FormatInt(off, 10))
	}
	return nil, err
}

// expireClips closes clips tier 1 stopped reading (its viewer went away
// without a close, or the link dropped).
func (s *Service) expireClips() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			s.closeClips(func(*openClip) bool { return true })
			return
		case <-t.C:
			cut := time.Now().Add(-clipIdle)
			s.closeClips(func(c *openClip) bool { return c.used.Before(cut) })
		}
	}
}

func (s *Service) closeClips(which func(*openClip) bool) {
	s.clips.mu.Lock()
	var done []*openClip
	for id, c := range s.clips.m {
		if which(c) {
			done = append(done, c)
			delete(s.clips.m, id)
		}
	}
	s.clips.mu.Unlock()
	for _, c := range done {
		c.plan.Close()
	}
}
