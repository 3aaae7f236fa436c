package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-vms/vigil/internal/playback"
)

// Tier 1's side of footage across tiers (see footage.go): the timeline, an
// MP4 it reads in chunks as its viewer's player asks, and exports copied
// into its own evidence store.

const (
	remoteClipIdle = time.Minute // an unused clip is closed at the lower site after this
	clipCacheMax   = 8           // chunks a clip keeps (4 MiB): the player's window and a read-ahead
	readTimeout    = 30 * time.Second
)

// askFootage sends a footage request to a lower site; a refusal comes back
// as the matching error (playback.ErrNoFootage, ErrNotShared, ...).
func (s *Service) askFootage(ctx context.Context, site string, req FootageRequest, timeout time.Duration) (*nats.Msg, error) {
	s.mu.Lock()
	a := s.appliers[site]
	s.mu.Unlock()
	if a == nil {
		return nil, ErrNotFound
	}
	req.V = envelopeVersion
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := a.nc.RequestWithContext(ctx, footageSubject+"."+site, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	if got := m.Header.Get("Vigil-Site"); got != site {
		return nil, fmt.Errorf("%w: answer from %q", ErrUnreachable, got)
	}
	if m.Header.Get(codeHeader) != "" {
		var rep FootageReply
		_ = json.Unmarshal(m.Data, &rep)
		if rep.Code == "" {
			rep.Code, rep.Error = m.Header.Get(codeHeader), m.Header.Get(messageHeader)
		}
		return nil, refusalErr(site, rep)
	}
	return m, nil
}

func refusalErr(site string, rep FootageReply) error {
	switch rep.Code {
	case "no_footage":
		return playback.ErrNoFootage
	case "too_long":
		return playback.ErrTooLong
	case "rate_limited":
		return playback.ErrRateLimited
	case "invalid":
		return &playback.FieldError{Field: rep.Field, Code: "invalid", Message: "site " + site + ": " + rep.Error}
	case "not_found":
		return playback.ErrNotFound
	case "not_shared":
		return ErrNotShared
	}
	return fmt.Errorf("%w (site %s: %s)", ErrRemote, site, rep.Error)
}

func footageReply(m *nats.Msg) (FootageReply, error) {
	var rep FootageReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return rep, fmt.Errorf("%w: bad answer: %v", ErrUnreachable, err)
	}
	return rep, nil
}

// siteOf is the lower site of a federated camera (tier 1 only).
func (s *Service) siteOf(ctx context.Context, cameraID string) (string, error) {
	if !s.IsHub() {
		return "", ErrNotTier1
	}
	site, err := s.d.Registry.OriginSite(ctx, cameraID)
	if err != nil {
		return "", err
	}
	if site == "" {
		return "", fmt.Errorf("%w: camera %s is not federated", ErrInvalid, cameraID)
	}
	return site, nil
}

// RemoteTimeline is a federated camera's recorded spans, from its site.
func (s *Service) RemoteTimeline(ctx context.Context, cameraID string, from, to time.Time) (playback.RecordingTimeline, error) {
	site, err := s.siteOf(ctx, cameraID)
	if err != nil {
		return playback.RecordingTimeline{}, err
	}
	m, err := s.askFootage(ctx, site, FootageRequest{Op: OpTimeline, Camera: cameraID, From: from.UnixMilli(), To: to.UnixMilli()}, 15*time.Second)
	if err != nil {
		return playback.RecordingTimeline{}, err
	}
	rep, err := footageReply(m)
	if err != nil {
		return playback.RecordingTimeline{}, err
	}
	if rep.Timeline == nil || rep.Timeline.CameraID != cameraID {
		return playback.RecordingTimeline{}, fmt.Errorf("%w: no timeline in the answer", ErrUnreachable)
	}
	return *rep.Timeline, nil
}

// chunkFile reads a file of a lower site over the link, a chunk at a time
// (io.ReaderAt, so http.ServeContent serves Range requests from it), with
// the next chunk fetched ahead so a player streaming the file waits for the
// link once, not once per chunk, and the last few chunks kept for the
// player's next Range request.
type chunkFile struct {
	size int64
	read func(idx int64) ([]byte, error) // chunk idx, exactly its length

	mu     sync.Mutex
	chunks map[int64]*chunkFetch
	lru    []int64
}

type chunkFetch struct {
	done chan struct{}
	data []byte
	err  error
}

func newChunkFile(size int64, read func(idx int64) ([]byte, error)) *chunkFile {
	return &chunkFile{size: size, read: read, chunks: map[int64]*chunkFetch{}}
}

// chunkLen is the length of chunk idx of a file of size bytes.
func chunkLen(size, idx int64) int { return int(min(int64(footageChunk), size-idx*footageChunk)) }

// Size is the file's length in bytes.
func (c *chunkFile) Size() int64 { return c.size }

// ReadAt implements io.ReaderAt.
func (c *chunkFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("federation: negative offset")
	}
	n := 0
	for n < len(p) && off < c.size {
		idx := off / footageChunk
		f := c.fetch(idx)
		if (idx+1)*footageChunk < c.size {
			c.fetch(idx + 1)
		}
		<-f.done
		if f.err != nil {
			c.forget(idx)
			return n, f.err
		}
		k := copy(p[n:], f.data[off-idx*footageChunk:])
		if k == 0 {
			return n, io.ErrUnexpectedEOF
		}
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fetch returns chunk idx, started if it was not cached or in flight.
func (c *chunkFile) fetch(idx int64) *chunkFetch {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.chunks[idx]; f != nil {
		c.touch(idx)
		return f
	}
	f := &chunkFetch{done: make(chan struct{})}
	c.chunks[idx] = f
	c.touch(idx)
	for len(c.lru) > clipCacheMax {
		old := c.lru[0]
		c.lru = c.lru[1:]
		delete(c.chunks, old)
	}
	go func() {
		defer close(f.done)
		f.data, f.err = c.read(idx)
	}()
	return f
}

func (c *chunkFile) touch(idx int64) {
	for i, v := range c.lru {
		if v == idx {
			c.lru = append(c.lru[:i], c.lru[i+1:]...)
			break
		}
	}
	c.lru = append(c.lru, idx)
}

func (c *chunkFile) forget(idx int64) {
	c.mu.Lock()
	delete(c.chunks, idx)
	for i, v := range c.lru {
		if v == idx {
			c.lru = append(c.lru[:i], c.lru[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
}

func (c *chunkFile) drop() {
	c.mu.Lock()
	c.chunks = map[int64]*chunkFetch{}
	c.lru = nil
	c.mu.Unlock()
}

// RemoteClip is the MP4 of a federated camera's range, read from its site
// in chunks (see chunkFile). Release it after each use; tier 1 keeps it a
// minute for the next Range request of the same player.
type RemoteClip struct {
	*chunkFile
	ClipInfo
	s      *Service
	site   string
	camera string
	from   int64
	to     int64
	by     Viewer
	key    string

	mu     sync.Mutex
	refs   int
	used   time.Time
	closed bool
}

type remoteClips struct {
	mu sync.Mutex
	m  map[string]*RemoteClip
}

// OpenRemoteClip opens (or reuses) the MP4 of [from, to) of a federated
// camera for viewer by. The lower site audits the playback on by's behalf.
func (s *Service) OpenRemoteClip(ctx context.Context, cameraID string, from, to time.Time, by Viewer) (*RemoteClip, error) {
	site, err := s.siteOf(ctx, cameraID)
	if err != nil {
		return nil, err
	}
	key := strings.Join([]string{by.UserID, cameraID, fmt.Sprint(from.UnixMilli()), fmt.Sprint(to.UnixMilli())}, "|")
	s.remote.mu.Lock()
	if c := s.remote.m[key]; c != nil {
		c.mu.Lock()
		if !c.closed {
			c.refs++
			c.used = time.Now()
			c.mu.Unlock()
			s.remote.mu.Unlock()
			return c, nil
		}
		c.mu.Unlock()
	}
	s.remote.mu.Unlock()
	c := &RemoteClip{s: s, site: site, camera: cameraID, from: from.UnixMilli(), to: to.UnixMilli(), by: by, key: key,
		refs: 1, used: time.Now()}
	info, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	c.ClipInfo = info
	c.chunkFile = newChunkFile(info.Size, c.readChunk)
	s.remote.mu.Lock()
	if s.remote.m == nil {
		s.remote.m = map[string]*RemoteClip{}
	}
	old := s.remote.m[key]
	s.remote.m[key] = c
	s.remote.mu.Unlock()
	if old != nil {
		old.mu.Lock()
		idle := old.refs == 0
		old.mu.Unlock()
		if idle {
			old.close()
		}
	}
	return c, nil
}

func (c *RemoteClip) open(ctx context.Context) (ClipInfo, error) {
	m, err := c.s.askFootage(ctx, c.site, FootageRequest{Op: OpClipOpen, Camera: c.camera, From: c.from, To: c.to, By: &c.by}, 30*time.Second)
	if err != nil {
		return ClipInfo{}, err
	}
	rep, err := footageReply(m)
	if err != nil {
		return ClipInfo{}, err
	}
	if rep.Clip == nil || !validClipID(rep.Clip.ID) || rep.Clip.Size <= 0 {
		return ClipInfo{}, fmt.Errorf("%w: no clip in the answer", ErrUnreachable)
	}
	return *rep.Clip, nil
}

// Size is the MP4's length in bytes.
func (c *RemoteClip) Size() int64 { return c.ClipInfo.Size }

// Release ends one use of the clip.
func (c *RemoteClip) Release() {
	c.mu.Lock()
	c.refs--
	c.used = time.Now()
	c.mu.Unlock()
}

func (c *RemoteClip) clipID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ClipInfo.ID
}

func (c *RemoteClip) readChunk(idx int64) ([]byte, error) {
	off, n := idx*footageChunk, chunkLen(c.ClipInfo.Size, idx)
	ctx := c.s.ctx
	m, err := c.s.askFootage(ctx, c.site, FootageRequest{Op: OpClipRead, ID: c.clipID(), Off: off, N: n}, readTimeout)
	if errors.Is(err, playback.ErrNotFound) {
		// The lower site closed the clip (idle, or it restarted): open the
		// same range again; the file is the same if the footage is.
		info, oerr := c.open(ctx)
		if oerr != nil {
			return nil, oerr
		}
		if info.Size != c.ClipInfo.Size {
			return nil, fmt.Errorf("%w: the recording changed under the clip", ErrRemote)
		}
		c.mu.Lock()
		c.ClipInfo.ID = info.ID
		c.mu.Unlock()
		m, err = c.s.askFootage(ctx, c.site, FootageRequest{Op: OpClipRead, ID: info.ID, Off: off, N: n}, readTimeout)
	}
	if err != nil {
		return nil, err
	}
	if len(m.Data) != n {
		return nil, fmt.Errorf("%w: chunk of %d bytes, want %d", ErrUnreachable, len(m.Data), n)
	}
	return m.Data, nil
}

// close tells the lower site the clip is no longer needed.
func (c *RemoteClip) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	id := c.ClipInfo.ID
	c.mu.Unlock()
	c.chunkFile.drop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.s.askFootage(ctx, c.site, FootageRequest{Op: OpClipClose, ID: id}, 5*time.Second)
}

// expireRemoteClips closes clips no player used for a while (tier 1).
func (s *Service) expireRemoteClips() {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		var stop bool
		select {
		case <-s.ctx.Done():
			stop = true
		case <-t.C:
		}
		cut := time.Now().Add(-remoteClipIdle)
		var idle []*RemoteClip
		s.remote.mu.Lock()
		for k, c := range s.remote.m {
			c.mu.Lock()
			if stop || (c.refs <= 0 && c.used.Before(cut)) {
				idle = append(idle, c)
				delete(s.remote.m, k)
			}
			c.mu.Unlock()
		}
		s.remote.mu.Unlock()
		for _, c := range idle {
			if stop {
				c.mu.Lock()
				c.closed = true
				c.mu.Unlock()
				continue // the link goes down with us; the site expires it
			}
			c.close()
		}
		if stop {
			return
		}
	}
}

// RemoteExportRequest is a tier-1 user extracting a federated camera's
// footage.
type RemoteExportRequest struct {
	Camera    string
	From, To  time.Time
	Purpose   string
	Requester playback.EvidenceRequester
	By        Viewer
}

// RemoteExport has the camera's site extract the range (signed, locked and
// audited there), copies the file into tier 1's evidence store and audits
// the extraction here (playback.Service.Import).
func (s *Service) RemoteExport(ctx context.Context, req RemoteExportRequest) (playback.EvidenceExport, error) {
	if s.d.Playback == nil {
		return playback.EvidenceExport{}, errors.New("federation: this site has no evidence store")
	}
	site, err := s.siteOf(ctx, req.Camera)
	if err != nil {
		return playback.EvidenceExport{}, err
	}
	rq := req.Requester
	m, err := s.askFootage(ctx, site, FootageRequest{Op: OpExport, Camera: req.Camera, From: req.From.UnixMilli(), To: req.To.UnixMilli(),
		By: &req.By, Purpose: req.Purpose, Requester: &rq}, 5*time.Minute)
	if err != nil {
		return playback.EvidenceExport{}, err
	}
	rep, err := footageReply(m)
	if err != nil {
		return playback.EvidenceExport{}, err
	}
	if rep.Export == nil || !playback.ValidExportID(rep.Export.ID) {
		return playback.EvidenceExport{}, fmt.Errorf("%w: no export in the answer", ErrUnreachable)
	}
	src := &exportReader{ctx: ctx, s: s, site: site, id: rep.Export.ID, size: rep.Export.Bytes, by: req.By}
	ex, err := s.d.Playback.Import(ctx, playback.ImportRequest{Origin: site, Manifest: rep.Export.Manifest, File: src,
		Performer: playback.EvidencePerson{ID: req.By.UserID, Name: req.By.Username, Org: req.By.Org}, Remote: req.By.Remote,
		TrustKey: func(keyID string) error { return s.pinEvidenceKey(ctx, site, keyID) }})
	if err != nil {
		// Nothing reached tier 1's store: the site's copy would stay locked
		// with no one able to reach it, so tier 1 has the site release it
		// (audited there as this user's release). The extraction itself
		// stays in both logs; the user may extract again.
		orphan := *rep.Export
		orphan.OriginSite = site
		rctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		if rerr := s.ReleaseRemoteExport(rctx, orphan, req.By); rerr != nil {
			s.log.Warn("federation: an export that did not reach tier 1 stays locked at its site", "site", site, "export", orphan.ID, "err", rerr)
		}
		return playback.EvidenceExport{}, err
	}
	return ex, nil
}

// exportReader reads an export's file from its site, in order.
type exportReader struct {
	ctx  context.Context
	s    *Service
	site string
	id   string
	size int64
	off  int64
	buf  []byte
	by   Viewer
}

func (r *exportReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.off >= r.size {
			return 0, io.EOF
		}
		n := int(min(int64(footageChunk), r.size-r.off))
		m, err := r.s.askFootage(r.ctx, r.site, FootageRequest{Op: OpExportRead, ID: r.id, Off: r.off, N: n, By: &r.by}, readTimeout)
		if err != nil {
			return 0, err
		}
		if len(m.Data) != n {
			return 0, fmt.Errorf("%w: chunk of %d bytes, want %d", ErrUnreachable, len(m.Data), n)
		}
		r.buf = m.Data
		r.off += int64(n)
	}
	k := copy(p, r.buf)
	r.buf = r.buf[k:]
	return k, nil
}

// pinEvidenceKey accepts a site's manifest key: the first one it signs with
// is kept, and a manifest signed with another key is refused (a new key
// needs the site enrolled again).
func (s *Service) pinEvidenceKey(ctx context.Context, site, keyID string) error {
	var pinned string
	err := s.d.DB.Q().QueryRow(ctx, `SELECT evidence_key_id FROM federation_sites WHERE site_id = ?`, site).Scan(&pinned)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if pinned == "" {
		if _, err := s.d.DB.Q().Exec(ctx, `UPDATE federation_sites SET evidence_key_id = ? WHERE site_id = ? AND evidence_key_id = ''`, keyID, site); err != nil {
			return err
		}
		return nil
	}
	if !strings.EqualFold(pinned, keyID) {
		return fmt.Errorf("site %s signed with key %s, not with its key %s", site, keyID, pinned)
	}
	return nil
}

// ReleaseRemoteExport has the origin site of an imported export release
// its lock; the caller records it here (playback.MarkOriginReleased).
func (s *Service) ReleaseRemoteExport(ctx context.Context, ex playback.EvidenceExport, by Viewer) error {
	if ex.OriginSite == "" {
		return fmt.Errorf("%w: export %s was made here", ErrInvalid, ex.ID)
	}
	_, err := s.askFootage(ctx, ex.OriginSite, FootageRequest{Op: OpExportFree, ID: ex.ID, By: &by}, 30*time.Second)
	return err
}

// RemoteHLS is the HLS VOD playlist of a federated camera's range, made by
// its site from its recorded segments (audited there); segURL gives tier
// 1's own URL of each segment (see OpenRemoteSegment).
func (s *Service) RemoteHLS(ctx context.Context, cameraID string, from, to time.Time, by Viewer, segURL func(id string) string) (string, error) {
	site, err := s.siteOf(ctx, cameraID)
	if err != nil {
		return "", err
	}
	m, err := s.askFootage(ctx, site, FootageRequest{Op: OpHLS, Camera: cameraID, From: from.UnixMilli(), To: to.UnixMilli(), By: &by}, 30*time.Second)
	if err != nil {
		return "", err
	}
	rep, err := footageReply(m)
	if err != nil {
		return "", err
	}
	return rewritePlaylist(rep.Playlist, segURL)
}

// rewritePlaylist puts tier 1's segment URLs in a lower site's playlist.
// Every URI the site wrote must be one of its segments (segRef + id): any
// other (a URL of the site's choosing) refuses the playlist rather than
// reach the player.
func rewritePlaylist(pl string, segURL func(id string) string) (string, error) {
	if !strings.HasPrefix(pl, "#EXTM3U\n") || len(pl) > 4<<20 {
		return "", fmt.Errorf("%w: no playlist in the answer", ErrUnreachable)
	}
	for _, line := range strings.Split(pl, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, segRef) {
			return "", fmt.Errorf("%w: a playlist URI that is not a segment", ErrUnreachable)
		}
		if strings.HasPrefix(line, "#") && strings.Count(line, "URI=") != strings.Count(line, `URI="`+segRef) {
			return "", fmt.Errorf("%w: a playlist URI that is not a segment", ErrUnreachable)
		}
	}
	var bad error
	out := segRefRe.ReplaceAllStringFunc(pl, func(ref string) string {
		id := strings.TrimPrefix(ref, segRef)
		if !validSegmentID(id) {
			bad = fmt.Errorf("%w: bad segment reference", ErrUnreachable)
			return ""
		}
		return segURL(id)
	})
	if bad != nil {
		return "", bad
	}
	return out, nil
}

var segRefRe = regexp.MustCompile(regexp.QuoteMeta(segRef) + `[^"\s]*`)

// RemoteFile is a file of a lower site read over the link (io.ReaderAt).
type RemoteFile struct{ *chunkFile }

// OpenRemoteSegment opens a recorded segment of a federated camera at its
// site, for tier 1's HLS player (the site checks it is that camera's).
func (s *Service) OpenRemoteSegment(ctx context.Context, cameraID, segmentID string) (*RemoteFile, error) {
	site, err := s.siteOf(ctx, cameraID)
	if err != nil {
		return nil, err
	}
	if !validSegmentID(segmentID) {
		return nil, playback.ErrNotFound
	}
	m, err := s.askFootage(ctx, site, FootageRequest{Op: OpSegmentStat, Camera: cameraID, ID: segmentID}, 15*time.Second)
	if err != nil {
		return nil, err
	}
	rep, err := footageReply(m)
	if err != nil {
		return nil, err
	}
	if rep.Size <= 0 {
		return nil, playback.ErrNotFound
	}
	size := rep.Size
	return &RemoteFile{newChunkFile(size, func(idx int64) ([]byte, error) {
		n := chunkLen(size, idx)
		m, err := s.askFootage(s.ctx, site, FootageRequest{Op: OpSegmentRead, Camera: cameraID, ID: segmentID, Off: idx * footageChunk, N: n}, readTimeout)
		if err != nil {
			return nil, err
		}
		if len(m.Data) != n {
			return nil, fmt.Errorf("%w: chunk of %d bytes, want %d", ErrUnreachable, len(m.Data), n)
		}
		return m.Data, nil
	})}, nil
}
