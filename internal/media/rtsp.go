package media

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

var basicOnly = []auth.VerifyMethod{auth.VerifyMethodBasic}

// rtspHandler serves the RTSP re-stream (/<camera>/<main|sub>) and push-in
// (/push/<camera>[/<main|sub>]) on the hub's listener.
type rtspHandler struct{ h *Hub }

// connData is per RTSP connection. A reader is authorized at DESCRIBE, but
// the session only exists from SETUP on: the grant waits here in between.
type connData struct {
	mu       sync.Mutex
	pending  *pendingGrant
	lastPlay bool
}

type pendingGrant struct {
	cameraID string
	variant  Variant
	token    string
	s        *stream
	grant    ReadGrant
}

// release ends a grant no session claimed; it also drops its demand.
func (p *pendingGrant) release(reason string) {
	p.s.removeDemand()
	if p.grant.End != nil {
		p.grant.End(reason)
	}
}

type rtspReader struct {
	r         *reader
	path      string
	st        atomic.Pointer[gortsplib.ServerStream] // set once SETUP succeeded
	ss        *gortsplib.ServerSession
	started   chan struct{}
	startOnce sync.Once
}

func (rr *rtspReader) start() { rr.startOnce.Do(func() { close(rr.started) }) }

type rtspPublisher struct {
	s       *stream
	ing     *ingest
	grant   ReadGrant
	endOnce sync.Once
	done    chan struct{}
}

func (p *rtspPublisher) end(reason string) {
	p.endOnce.Do(func() {
		close(p.done)
		if p.grant.End != nil {
			p.grant.End(reason)
		}
	})
}

func remoteOf(c *gortsplib.ServerConn) string {
	if c == nil || c.NetConn() == nil {
		return ""
	}
	return c.NetConn().RemoteAddr().String()
}

func connDataOf(c *gortsplib.ServerConn) *connData {
	if cd, ok := c.UserData().(*connData); ok {
		return cd
	}
	return &connData{}
}

// logRefusal logs why a client was refused, at most once per interval per
// reason, with the count of the ones that were not logged.
func (rh *rtspHandler) logRefusal(reason, remote, path string, err error) {
	rh.h.m.rtspRefused.WithLabelValues(reason).Inc()
	if ok, n := rh.h.rl.allow("refuse:" + reason); ok {
		attrs := []any{"reason", reason, "remote", remote, "path", path, "suppressed", n}
		if err != nil {
			attrs = append(attrs, "error", redactLoose(err.Error()))
		}
		rh.h.log.Warn("RTSP client refused", attrs...)
	}
}

func unauthorized() (*base.Response, error) {
	// ErrServerAuth makes gortsplib add the Basic challenge when the client
	// sent no credentials, and close the connection when it sent wrong ones.
	return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
}

func (rh *rtspHandler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	ctx.Conn.SetUserData(&connData{})
	rh.h.m.rtspConns.Inc()
}

func (rh *rtspHandler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	rh.h.m.rtspConns.Dec()
	cd := connDataOf(ctx.Conn)
	cd.mu.Lock()
	p := cd.pending
	cd.pending = nil
	cd.mu.Unlock()
	if p != nil {
		p.release("connection closed before playing")
	}
	if ctx.Error != nil && !errors.Is(ctx.Error, liberrors.ErrServerTerminated{}) {
		if ok, n := rh.h.rl.allow("connclose"); ok {
			rh.h.log.Info("RTSP connection closed", "remote", remoteOf(ctx.Conn), "error", redactLoose(ctx.Error.Error()), "suppressed", n)
		}
	}
}

func (rh *rtspHandler) OnRequest(c *gortsplib.ServerConn, req *base.Request) {
	cd := connDataOf(c)
	cd.mu.Lock()
	cd.lastPlay = req.Method == base.Play
	cd.mu.Unlock()
}

// OnResponse starts an RTSP reader once its PLAY has been processed: only
// then does gortsplib route the stream's packets to the session, and the
// GOP replay must not be written into the void.
func (rh *rtspHandler) OnResponse(c *gortsplib.ServerConn, res *base.Response) {
	cd := connDataOf(c)
	cd.mu.Lock()
	play := cd.lastPlay
	cd.lastPlay = false
	cd.mu.Unlock()
	if !play || res.StatusCode != base.StatusOK {
		return
	}
	if ss := c.Session(); ss != nil {
		if rr, ok := ss.UserData().(*rtspReader); ok {
			rr.start()
		}
	}
}

// authorizeRead checks a reader's token and waits for the stream. On
// success the stream's demand has been raised for the returned grant.
func (rh *rtspHandler) authorizeRead(conn *gortsplib.ServerConn, cameraID string, v Variant, token, path string) (*pendingGrant, *base.Response, error) {
	h := rh.h
	remote := remoteOf(conn)
	grant, err := h.auth.AuthorizeRead(h.ctx, ReadRequest{
		CameraID: cameraID, Variant: v, Protocol: ProtoRTSP, Token: token, Remote: remote,
	})
	if err != nil {
		h.m.authFailures.WithLabelValues(string(ProtoRTSP)).Inc()
		if !errors.Is(err, ErrDenied) {
			rh.logRefusal("unavailable", remote, path, err)
			// Not a refusal of the reader but a failure to decide or to
			// record it (a full disk): 503 with the reason in the status
			// line, which players print.
			return nil, &base.Response{StatusCode: base.StatusServiceUnavailable, StatusMessage: unavailableReason(err)}, err
		}
		rh.logRefusal("denied", remote, path, err)
		return nil, &base.Response{StatusCode: base.StatusForbidden}, err
	}
	s, err := h.lookup(cameraID, v)
	if err != nil {
		if grant.End != nil {
			grant.End("camera not found")
		}
		return nil, &base.Response{StatusCode: base.StatusNotFound}, err
	}
	s.addDemand()
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.WaitReady)
	defer cancel()
	if err := s.waitReady(ctx); err != nil {
		s.removeDemand()
		if grant.End != nil {
			grant.End("stream unavailable")
		}
		return nil, &base.Response{StatusCode: base.StatusServiceUnavailable}, err
	}
	return &pendingGrant{cameraID: cameraID, variant: v, token: token, s: s, grant: grant}, nil, nil
}

func (rh *rtspHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	cameraID, v, push, ok := parsePath(ctx.Path)
	if !ok || push {
		rh.logRefusal("bad_path", remoteOf(ctx.Conn), "", nil)
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	token := tokenFromRequest(ctx.Query, ctx.Request.Header["Authorization"])
	if token == "" {
		res, err := unauthorized()
		return res, nil, err
	}
	p, res, err := rh.authorizeRead(ctx.Conn, cameraID, v, token, ctx.Path)
	if err != nil {
		return res, nil, err
	}
	p.s.mu.Lock()
	ds := p.s.descStream
	p.s.mu.Unlock()
	if ds == nil {
		p.release("no description")
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
	}
	cd := connDataOf(ctx.Conn)
	cd.mu.Lock()
	old := cd.pending
	cd.pending = p
	cd.mu.Unlock()
	if old != nil {
		old.release("superseded by a new DESCRIBE")
	}
	return &base.Response{StatusCode: base.StatusOK}, ds, nil
}

func (rh *rtspHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		if _, ok := ctx.Session.UserData().(*rtspPublisher); !ok {
			return &base.Response{StatusCode: base.StatusBadRequest}, nil, errors.New("SETUP before ANNOUNCE")
		}
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	cameraID, v, push, ok := parsePath(ctx.Path)
	if !ok || push {
		rh.logRefusal("bad_path", remoteOf(ctx.Conn), "", nil)
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	if rr, ok := ctx.Session.UserData().(*rtspReader); ok {
		// Second and later SETUPs of the same session.
		if rr.path != cameraID+"/"+string(v) {
			return &base.Response{StatusCode: base.StatusBadRequest}, nil, errors.New("path changed between SETUPs")
		}
		return &base.Response{StatusCode: base.StatusOK}, rr.st.Load(), nil
	}

	token := tokenFromRequest(ctx.Query, ctx.Request.Header["Authorization"])
	cd := connDataOf(ctx.Conn)
	cd.mu.Lock()
	p := cd.pending
	if p != nil && p.cameraID == cameraID && p.variant == v && (token == "" || token == p.token) {
		cd.pending = nil
	} else {
		p = nil
	}
	cd.mu.Unlock()
	if p == nil {
		// SETUP without our DESCRIBE on this connection (some clients reuse
		// an SDP): authorize here.
		if token == "" {
			res, err := unauthorized()
			return res, nil, err
		}
		var res *base.Response
		var err error
		p, res, err = rh.authorizeRead(ctx.Conn, cameraID, v, token, ctx.Path)
		if err != nil {
			return res, nil, err
		}
	}

	h := rh.h
	rr := &rtspReader{path: cameraID + "/" + string(v), ss: ctx.Session, started: make(chan struct{})}
	r := &reader{proto: ProtoRTSP, subject: p.grant.Subject, grant: p.grant}
	rr.r = r
	r.deliver = func(f *frame) {
		select {
		case <-rr.started:
		case <-r.done:
			return
		}
		for _, pkt := range f.pkts {
			// Each session's stream stamps its own SSRC into the packet:
			// copy the header, share the payload.
			cp := *pkt
			if err := rr.st.Load().WritePacketRTPWithNTP(f.t.media, &cp, f.u.NTP); err != nil {
				var closed liberrors.ErrServerStreamClosed
				if errors.As(err, &closed) {
					go r.close("session closed")
					return
				}
			}
		}
	}
	r.onClose = func(string) {
		rr.ss.Close()
		if st := rr.st.Load(); st != nil {
			st.Close()
		}
	}
	// The pending grant's demand carries over to the reader: attach expects
	// it counted, and reader.close removes it.
	if err := h.attach(h.ctx, p.s, r); err != nil {
		p.release("stream unavailable")
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, err
	}
	st := &gortsplib.ServerStream{Server: h.srv, Desc: r.desc}
	if err := st.Initialize(); err != nil {
		r.close("internal error")
		return &base.Response{StatusCode: base.StatusInternalServerError}, nil, err
	}
	rr.st.Store(st)
	ctx.Session.SetUserData(rr)
	h.log.Debug("RTSP reader started", "camera", cameraID, "variant", string(v), "subject", p.grant.Subject, "remote", remoteOf(ctx.Conn))
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (rh *rtspHandler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	rr, ok := ctx.Session.UserData().(*rtspReader)
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("PLAY without SETUP")
	}
	// Normally OnResponse starts the reader; this covers a PLAY sent on
	// another connection than the SETUP (then OnResponse cannot find it).
	time.AfterFunc(time.Second, rr.start)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (rh *rtspHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	switch d := ctx.Session.UserData().(type) {
	case *rtspReader:
		d.r.close("client disconnected")
	case *rtspPublisher:
		d.s.onUnpublish(ctx.Session, ctx.Error)
		reason := "publisher disconnected"
		if ctx.Error != nil {
			reason += ": " + redactLoose(ctx.Error.Error())
		}
		d.end(reason)
		rh.h.log.Info("camera stopped pushing", "camera", d.s.cameraID, "reason", reason)
	}
}

func (rh *rtspHandler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	h := rh.h
	remote := remoteOf(ctx.Conn)
	cameraID, v, push, ok := parsePath(ctx.Path)
	if !ok || !push {
		rh.logRefusal("bad_path", remote, "", nil)
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	user, pass, ok := basicCredentials(ctx.Request.Header["Authorization"])
	if !ok || user == "" {
		return unauthorized()
	}
	grant, err := h.auth.AuthorizePublish(h.ctx, PublishRequest{CameraID: cameraID, Variant: v, User: user, Password: pass, Remote: remote})
	if err != nil {
		rh.logRefusal("publish_denied", remote, ctx.Path, err)
		h.m.authFailures.WithLabelValues("publish").Inc()
		return &base.Response{StatusCode: base.StatusForbidden}, err
	}
	fail := func(code base.StatusCode, reason string, err error) (*base.Response, error) {
		if grant.End != nil {
			grant.End(reason)
		}
		return &base.Response{StatusCode: code}, err
	}
	s, err := h.lookupPush(cameraID, v)
	if err != nil {
		reason := "camera not found"
		if v == Sub {
			reason = "camera or its sub stream not found"
		}
		return fail(base.StatusNotFound, reason, err)
	}
	if !s.push {
		return fail(base.StatusForbidden, "not a push camera", fmt.Errorf("camera %s is pulled, not pushed", cameraID))
	}
	ing, err := s.onPublish(ctx.Session, ctx.Description)
	if err != nil {
		return fail(base.StatusUnsupportedMediaType, "unsupported stream", err)
	}
	p := &rtspPublisher{s: s, ing: ing, grant: grant, done: make(chan struct{})}
	ctx.Session.SetUserData(p)
	if rev := grant.Revoked; rev != nil {
		ss := ctx.Session
		go func() {
			select {
			case <-rev:
				ss.Close()
			case <-p.done:
			}
		}()
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (rh *rtspHandler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	p, ok := ctx.Session.UserData().(*rtspPublisher)
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("RECORD without ANNOUNCE")
	}
	setup := map[any]bool{}
	for _, m := range ctx.Session.Medias() {
		setup[m] = true
	}
	ss := ctx.Session
	for _, it := range p.ing.tracks {
		if !setup[it.media] {
			continue
		}
		ss.OnPacketRTP(it.media, it.format, func(pkt *rtp.Packet) {
			pts, ok := ss.PacketPTS(it.media, pkt)
			if !ok {
				return
			}
			p.s.onPacket(p.ing, it, pkt, pts)
		})
	}
	p.s.setStatus(StatusOnline, "")
	rh.h.log.Info("camera pushing", "camera", p.s.cameraID, "remote", remoteOf(ctx.Conn), "codecs", p.s.codecs())
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (rh *rtspHandler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	if ok, n := rh.h.rl.allow("lost"); ok {
		rh.h.log.Debug("RTP packets lost from a pushing camera", "lost", ctx.Lost, "suppressed", n)
	}
}

func (rh *rtspHandler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	if ok, n := rh.h.rl.allow("decodeerr"); ok {
		rh.h.log.Debug("undecodable packet from an RTSP client", "error", ctx.Error, "suppressed", n)
	}
}

func (rh *rtspHandler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	// A reader's socket is slower than the stream: gortsplib drops for it.
	rh.h.m.droppedUnits.WithLabelValues("rtsp_socket").Inc()
}

// unavailableReason is the RTSP status line of a reader refused for want of
// a working site (not of a right): Vietnamese first, then English (RTSP
// text is UTF-8).
func unavailableReason(err error) string {
	switch {
	case errors.Is(err, ErrDiskFull):
		return "Hết dung lượng đĩa, không ghi được nhật ký - Disk full, the live view cannot be audited"
	case errors.Is(err, ErrNotAudited):
		return "Không ghi được nhật ký - The audit log cannot be written"
	}
	return "Service Unavailable"
}
