package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/federation"
	"github.com/vigil-vms/vigil/internal/i18n"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
)

// Recording, playback and evidence export (R-OPS-2, R-SEC-2, R-ACC-7).
// Every route decides playback or export on the camera (classified cameras
// need clearance), audits denials, and audits playback starts, exports,
// downloads, shares and lock releases.

type RangeQuery struct {
	From  string `query:"from" required:"true" maxLength:"40" doc:"start: RFC 3339 time or unix milliseconds"`
	To    string `query:"to" required:"true" maxLength:"40" doc:"end (exclusive): RFC 3339 time or unix milliseconds"`
	Token string `query:"token" maxLength:"1024" doc:"a stream token of this camera, for players that cannot send the session cookie or a bearer token (VLC, ffplay)"`
}

func bi(lang i18n.Lang, vi, en string) string {
	if lang == i18n.EN {
		return en
	}
	return vi
}

func badField(lang i18n.Lang, field, vi, en string) error {
	return ErrMsg(http.StatusUnprocessableEntity, "invalid_input", field, i18n.Text(lang, "invalid_input")+": "+bi(lang, vi, en))
}

// parseWhen reads an RFC 3339 time or unix milliseconds.
func parseWhen(lang i18n.Lang, field, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > 1<<45 {
			return time.Time{}, badField(lang, field, "thời điểm ngoài phạm vi", "time out of range")
		}
		return time.UnixMilli(n).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badField(lang, field, "cần thời điểm RFC 3339 hoặc mili giây unix", "want an RFC 3339 time or unix milliseconds")
	}
	return t.UTC(), nil
}

func parseRange(lang i18n.Lang, from, to string, max time.Duration) (time.Time, time.Time, error) {
	f, err := parseWhen(lang, "from", from)
	if err != nil {
		return f, f, err
	}
	t, err := parseWhen(lang, "to", to)
	if err != nil {
		return f, t, err
	}
	if !t.After(f) {
		return f, t, badField(lang, "to", "thời điểm kết thúc phải sau thời điểm bắt đầu", "to must be after from")
	}
	if t.Sub(f) > max {
		return f, t, badField(lang, "to", fmt.Sprintf("khoảng thời gian tối đa %s", max), fmt.Sprintf("the range is at most %s", max))
	}
	return f, t, nil
}

// viewer is the caller of a media route: a session/bearer caller, or the
// user of a stream token bound to this camera.
func (s *Server) viewer(ctx context.Context, token, cameraID string) (*caller, error) {
	if p, _ := ctx.Value(keyPrincipal).(*auth.Principal); p != nil || token == "" {
		return s.who(ctx, false)
	}
	m := metaOf(ctx)
	cl, err := s.Auth.VerifyStreamToken(ctx, token)
	if err != nil || cl.CameraID != cameraID {
		return nil, Err(m.lang, http.StatusUnauthorized, "unauthenticated", "token")
	}
	u, err := s.Auth.Get(ctx, cl.UserID)
	if err != nil || u.Disabled {
		return nil, Err(m.lang, http.StatusUnauthorized, "unauthenticated", "token")
	}
	subj, err := BuildSubject(ctx, s.DB, s.Cfg.Access.HighestOrg, u.ID, u.OrgID, u.Roles, u.Disabled)
	if err != nil {
		return nil, s.internal(ctx, "load subject", err)
	}
	p := &auth.Principal{UserID: u.ID, Username: u.Username, OrgID: u.OrgID, Roles: u.Roles}
	return &caller{p: p, subj: subj, remote: m.remote, lang: m.lang}, nil
}

func (c *caller) person() playback.EvidencePerson {
	return playback.EvidencePerson{ID: c.p.UserID, Name: c.p.Username, Org: c.p.OrgID}
}

func (s *Server) playbackErr(ctx context.Context, err error) error {
	lang := metaOf(ctx).lang
	var fe *playback.FieldError
	var ve *record.ValidationError
	switch {
	case errors.Is(err, playback.ErrNoFootage):
		return ErrMsg(http.StatusNotFound, "no_footage", "", bi(lang, "Không có dữ liệu ghi hình trong khoảng thời gian này", "Nothing was recorded in this range"))
	case errors.Is(err, playback.ErrTooLong):
		return ErrMsg(http.StatusUnprocessableEntity, "range_too_long", "to", bi(lang, "Khoảng thời gian quá dài cho một tệp MP4; hãy dùng HLS", "The range is too long for one MP4; use HLS"))
	case errors.Is(err, playback.ErrRateLimited):
		return Err(lang, http.StatusTooManyRequests, "rate_limited", "")
	case errors.Is(err, playback.ErrNotFound), errors.Is(err, record.ErrNotFound):
		return Err(lang, http.StatusNotFound, "not_found", "")
	case errors.As(err, &fe):
		return ErrMsg(http.StatusUnprocessableEntity, "invalid_input", fe.Field, i18n.Text(lang, "invalid_input")+": "+fe.Message)
	case errors.As(err, &ve):
		return ErrMsg(http.StatusUnprocessableEntity, "invalid_input", ve.Field, i18n.Text(lang, "invalid_input")+": "+ve.Message)
	case errors.Is(err, federation.ErrUnreachable):
		return ErrMsg(http.StatusBadGateway, "site_unreachable", "", bi(lang, "Hệ thống cấp dưới giữ camera này không trả lời qua đường kết nối", "The lower site that holds this camera did not answer over its link"))
	case errors.Is(err, federation.ErrNotShared):
		return ErrMsg(http.StatusForbidden, "not_shared", "", bi(lang, "Hệ thống cấp dưới không chia sẻ dữ liệu của camera này", "The lower site does not share this camera's footage"))
	case errors.Is(err, federation.ErrRemote), errors.Is(err, playback.ErrBadImport):
		s.Log.Warn("footage across tiers failed", "err", err)
		return ErrMsg(http.StatusBadGateway, "site_failed", "", bi(lang, "Hệ thống cấp dưới không cung cấp được dữ liệu ghi hình", "The lower site could not provide the footage"))
	}
	return s.internal(ctx, "playback", err)
}

// auditPlay writes a playback start; origin names the lower site that
// served a federated camera's footage (it audits the playback too). A start
// whose entry cannot be written is refused: the error is the answer (507
// disk_full when the disk is full).
func (s *Server) auditPlay(ctx context.Context, c *caller, cameraID, proto, origin string, from, to time.Time) error {
	d := map[string]any{"protocol": proto, "from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano)}
	if origin != "" {
		d["origin_site"] = origin
	}
	_, err := s.Audit.Append(ctx, s.DB.Q(), audit.Entry{ActorID: c.p.UserID, Actor: c.p.Username, Org: c.p.OrgID,
		Action: "playback.start", Object: "camera/" + cameraID, Outcome: audit.OK, Remote: c.remote, Details: d})
	if err != nil {
		return s.internal(ctx, "audit playback.start", err)
	}
	return nil
}

type timelineOut struct {
	From      time.Time                    `json:"from"`
	To        time.Time                    `json:"to"`
	Timelines []playback.RecordingTimeline `json:"timelines"`
}

type exportBody struct {
	From      string                     `json:"from" maxLength:"40" doc:"RFC 3339 time or unix milliseconds"`
	To        string                     `json:"to" maxLength:"40"`
	Purpose   string                     `json:"purpose" minLength:"1" maxLength:"500" doc:"why the footage is extracted (R-SEC-2)"`
	Requester playback.EvidenceRequester `json:"requester"`
}

type shareBody struct {
	RecipientOrg  string    `json:"recipient_org" minLength:"1" maxLength:"64"`
	ConsentDoc    string    `json:"consent_doc" minLength:"1" maxLength:"200" doc:"number of the managing agency's written consent (R-ACC-7)"`
	ConsentDate   time.Time `json:"consent_date"`
	ConsentSigner string    `json:"consent_signer" minLength:"1" maxLength:"200"`
}

type policyBody struct {
	Mode          string `json:"mode" enum:"always,off,schedule," doc:"empty inherits"`
	Schedule      string `json:"schedule,omitempty" maxLength:"1024"`
	RetentionDays int    `json:"retention_days,omitempty" minimum:"0" maximum:"3650"`
	LegalOverride string `json:"legal_override,omitempty" maxLength:"500"`
}

type recordingOut struct {
	CameraID      string                 `json:"camera_id"`
	Mode          string                 `json:"mode"`
	RetentionDays int                    `json:"retention_days"`
	Recorder      *record.RecorderStatus `json:"recorder,omitempty"`
}

func (s *Server) routesPlayback() {
	if s.Playback == nil || s.Recorder == nil {
		return
	}
	tag := "playback"

	huma.Register(s.api, op(http.MethodGet, "/api/v1/recordings/timeline", "recording-timeline",
		"Recorded spans and gaps of one or many cameras, from the index", tag),
		func(ctx context.Context, in *struct {
			CameraIDs string `query:"camera_ids" required:"true" maxLength:"6600" doc:"comma-separated camera ids (at most 100)"`
			From      string `query:"from" required:"true" maxLength:"40"`
			To        string `query:"to" required:"true" maxLength:"40"`
		}) (*struct{ Body timelineOut }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			from, to, err := parseRange(c.lang, in.From, in.To, playback.MaxTimelineRange)
			if err != nil {
				return nil, err
			}
			ids := strings.Split(in.CameraIDs, ",")
			if len(ids) > 100 {
				return nil, badField(c.lang, "camera_ids", "tối đa 100 camera", "at most 100 cameras")
			}
			out := timelineOut{From: from, To: to, Timelines: []playback.RecordingTimeline{}}
			for _, id := range ids {
				id = strings.TrimSpace(id)
				if !record.ValidID(id) {
					return nil, badField(c.lang, "camera_ids", "mã camera không hợp lệ", "bad camera id")
				}
				if _, err := s.camera(ctx, c, access.Playback, id); err != nil {
					return nil, err
				}
				var tl playback.RecordingTimeline
				origin, err := s.originOf(ctx, id)
				if err == nil && origin != "" {
					tl, err = s.Federation.RemoteTimeline(ctx, id, from, to)
					if err != nil {
						return nil, s.playbackErr(ctx, err)
					}
				} else if err == nil {
					tl, err = playback.TimelineOf(ctx, s.DB.Q(), id, from, to)
				}
				if err != nil {
					return nil, s.internal(ctx, "timeline", err)
				}
				out.Timelines = append(out.Timelines, tl)
			}
			return &struct{ Body timelineOut }{out}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}/playback.mp4", "playback-mp4",
		"MP4 of any recorded range (starts at the keyframe at or before from, crosses segments, leaves gaps out); supports Range requests", tag),
		func(ctx context.Context, in *struct {
			IDPath
			RangeQuery
			Download bool `query:"download" doc:"ask the browser to save the file"`
		}) (*huma.StreamResponse, error) {
			c, err := s.viewer(ctx, in.Token, in.ID)
			if err != nil {
				return nil, err
			}
			from, to, err := parseRange(c.lang, in.From, in.To, s.Playback.Options().MaxPlayback)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.Playback, in.ID); err != nil {
				return nil, err
			}
			origin, err := s.originOf(ctx, in.ID)
			if err != nil {
				return nil, s.internal(ctx, "origin", err)
			}
			if origin != "" {
				// A lower site's recording, read from it over the link as
				// the player's Range requests ask (tier 1 keeps no copy);
				// the lower site audits the playback too.
				clip, err := s.Federation.OpenRemoteClip(ctx, in.ID, from, to, s.viewerAt(c))
				if err != nil {
					return nil, s.playbackErr(ctx, err)
				}
				return s.serveMP4(ctx, c, in.ID, origin, from, to, in.Download, clip.Start, clip.End, clip.Gaps,
					io.NewSectionReader(clip, 0, clip.Size()), clip.Release), nil
			}
			plan, err := s.Playback.Plan(ctx, in.ID, from, to)
			if err != nil {
				return nil, s.playbackErr(ctx, err)
			}
			return s.serveMP4(ctx, c, in.ID, "", from, to, in.Download, plan.Start, plan.End, plan.Gaps, plan, func() { plan.Close() }), nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}/playback.m3u8", "playback-hls",
		"HLS VOD playlist (fMP4) of a long range, one media segment per recorded segment", tag),
		func(ctx context.Context, in *struct {
			IDPath
			RangeQuery
		}) (*huma.StreamResponse, error) {
			c, err := s.viewer(ctx, in.Token, in.ID)
			if err != nil {
				return nil, err
			}
			from, to, err := parseRange(c.lang, in.From, in.To, playback.MaxHLSRange)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.Playback, in.ID); err != nil {
				return nil, err
			}
			origin, err := s.originOf(ctx, in.ID)
			if err != nil {
				return nil, s.internal(ctx, "origin", err)
			}
			if origin != "" {
				// The lower site makes the playlist of its segments; the
				// player fetches each through this site, which reads it
				// from the lower site over the link.
				segURL := func(id string) string {
					u := "/api/v1/cameras/" + url.PathEscape(in.ID) + "/remote-segments/" + id + "/media.mp4"
					if in.Token != "" {
						u += "?token=" + url.QueryEscape(in.Token)
					}
					return u
				}
				pl, err := s.Federation.RemoteHLS(ctx, in.ID, from, to, s.viewerAt(c), segURL)
				if err != nil {
					return nil, s.playbackErr(ctx, err)
				}
				if err := s.auditPlay(ctx, c, in.ID, "hls", origin, from, to); err != nil {
					return nil, err
				}
				return &huma.StreamResponse{Body: func(hctx huma.Context) {
					hctx.SetHeader("Content-Type", "application/vnd.apple.mpegurl")
					_, _ = hctx.BodyWriter().Write([]byte(pl))
				}}, nil
			}
			segURL := func(id string) string {
				u := "/api/v1/recordings/segments/" + id + "/media.mp4"
				if in.Token != "" {
					u += "?token=" + url.QueryEscape(in.Token)
				}
				return u
			}
			pl, _, err := playback.HLSPlaylist(ctx, s.DB.Q(), s.Playback.Resolver(), in.ID, from, to, segURL)
			if err != nil {
				return nil, s.playbackErr(ctx, err)
			}
			if err := s.auditPlay(ctx, c, in.ID, "hls", "", from, to); err != nil {
				return nil, err
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				hctx.SetHeader("Content-Type", "application/vnd.apple.mpegurl")
				_, _ = hctx.BodyWriter().Write([]byte(pl))
			}}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/recordings/segments/{id}/media.mp4", "recording-segment",
		"One recorded segment file (fMP4), with Range requests (HLS VOD media)", tag),
		func(ctx context.Context, in *struct {
			ID    string `path:"id" maxLength:"64"`
			Token string `query:"token" maxLength:"1024"`
		}) (*huma.StreamResponse, error) {
			lang := metaOf(ctx).lang
			if _, err := hexID(in.ID); err != nil {
				return nil, Err(lang, http.StatusNotFound, "not_found", "id")
			}
			g, err := record.GetSegment(ctx, s.DB.Q(), in.ID)
			if err != nil {
				if errors.Is(err, record.ErrNotFound) {
					if _, werr := s.who(ctx, false); werr != nil && in.Token == "" {
						return nil, werr
					}
					return nil, Err(lang, http.StatusNotFound, "not_found", "id")
				}
				return nil, s.internal(ctx, "segment", err)
			}
			c, err := s.viewer(ctx, in.Token, g.CameraID)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.Playback, g.CameraID); err != nil {
				return nil, err
			}
			p, err := s.Recorder.SegmentPath(g.Storage, g.Path)
			if err != nil {
				return nil, s.internal(ctx, "segment path", err)
			}
			f, err := os.Open(p)
			if err != nil {
				return nil, Err(lang, http.StatusNotFound, "not_found", "id")
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				defer f.Close()
				r, w := humago.Unwrap(hctx)
				w.Header().Set("Content-Type", "video/mp4")
				http.ServeContent(w, r, "", time.UnixMilli(g.StartMS), f)
			}}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}/remote-segments/{seg}/media.mp4", "remote-recording-segment",
		"One recorded segment of a lower site's camera, read from that site over the link (HLS VOD media of playback.m3u8 at tier 1), with Range requests", tag),
		func(ctx context.Context, in *struct {
			IDPath
			Seg   string `path:"seg" maxLength:"64"`
			Token string `query:"token" maxLength:"1024"`
		}) (*huma.StreamResponse, error) {
			c, err := s.viewer(ctx, in.Token, in.ID)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.Playback, in.ID); err != nil {
				return nil, err
			}
			if _, err := hexID(in.Seg); err != nil {
				return nil, Err(c.lang, http.StatusNotFound, "not_found", "seg")
			}
			origin, err := s.originOf(ctx, in.ID)
			if err != nil {
				return nil, s.internal(ctx, "origin", err)
			}
			if origin == "" {
				return nil, Err(c.lang, http.StatusNotFound, "not_found", "id")
			}
			f, err := s.Federation.OpenRemoteSegment(ctx, in.ID, in.Seg)
			if err != nil {
				return nil, s.playbackErr(ctx, err)
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				r, w := humago.Unwrap(hctx)
				w.Header().Set("Content-Type", "video/mp4")
				w.Header().Set("X-Vigil-Origin-Site", origin)
				http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(f, 0, f.Size()))
			}}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}/recording", "camera-recording",
		"A camera's effective recording policy and recorder state", tag),
		func(ctx context.Context, in *IDPath) (*struct{ Body recordingOut }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.Playback, in.ID); err != nil {
				return nil, err
			}
			e, err := s.Recorder.Effective(ctx, in.ID)
			if err != nil {
				return nil, s.internal(ctx, "policy", err)
			}
			out := recordingOut{CameraID: in.ID, Mode: e.Mode, RetentionDays: e.RetentionDays}
			for _, st := range s.Recorder.Recording() {
				if st.CameraID == in.ID {
					st := st
					out.Recorder = &st
				}
			}
			return &struct{ Body recordingOut }{out}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/recording-policies", "list-recording-policies", "Recording policies of cameras and systems", tag),
		func(ctx context.Context, in *struct{}) (*struct{ Body []record.RecordingPolicy }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "recording-policies"); err != nil {
				return nil, err
			}
			ps, err := s.Recorder.Policies(ctx)
			if err != nil {
				return nil, s.internal(ctx, "policies", err)
			}
			return &struct{ Body []record.RecordingPolicy }{ps}, nil
		})

	policyScope := func(ctx context.Context, c *caller, scope string) error {
		kind, id, ok := strings.Cut(scope, ":")
		switch {
		case !ok || !record.ValidID(id):
			return badField(c.lang, "scope", "cần camera:<mã> hoặc system:<mã>", "want camera:<id> or system:<id>")
		case kind == "camera":
			_, err := s.camera(ctx, c, access.Manage, id)
			return err
		case kind == "system":
			return s.site(ctx, c, access.ManageRegistry, "system/"+id)
		}
		return badField(c.lang, "scope", "cần camera:<mã> hoặc system:<mã>", "want camera:<id> or system:<id>")
	}
	huma.Register(s.api, op(http.MethodPut, "/api/v1/recording-policies/{scope}", "set-recording-policy",
		"Set the recording mode, schedule and retention of a camera or system (retention < 30 days needs a legal override)", tag),
		func(ctx context.Context, in *struct {
			Scope string `path:"scope" maxLength:"80"`
			Body  policyBody
		}) (*struct{ Body record.RecordingPolicy }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := policyScope(ctx, c, in.Scope); err != nil {
				return nil, err
			}
			p, err := s.Recorder.SetPolicy(ctx, record.Actor{ID: c.p.UserID, Name: c.p.Username, Org: c.p.OrgID, Remote: c.remote},
				record.RecordingPolicy{Scope: in.Scope, Mode: in.Body.Mode, Schedule: in.Body.Schedule, RetentionDays: in.Body.RetentionDays, LegalOverride: in.Body.LegalOverride})
			if err != nil {
				return nil, s.playbackErr(ctx, err)
			}
			return &struct{ Body record.RecordingPolicy }{p}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodDelete, "/api/v1/recording-policies/{scope}", "delete-recording-policy", "Remove a policy (inherit again)", tag), 204),
		func(ctx context.Context, in *struct {
			Scope string `path:"scope" maxLength:"80"`
		}) (*struct{}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := policyScope(ctx, c, in.Scope); err != nil {
				return nil, err
			}
			if err := s.Recorder.DeletePolicy(ctx, record.Actor{ID: c.p.UserID, Name: c.p.Username, Org: c.p.OrgID, Remote: c.remote}, in.Scope); err != nil {
				return nil, s.playbackErr(ctx, err)
			}
			return nil, nil
		})

	// ---- export (extraction) ----

	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/cameras/{id}/exports", "create-export",
		"Extract a range as MP4 with a signed evidence manifest; states purpose and requester; locks the range against retention", tag), 201),
		func(ctx context.Context, in *struct {
			IDPath
			Body exportBody
		}) (*struct{ Body playback.EvidenceExport }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			from, to, err := parseRange(c.lang, in.Body.From, in.Body.To, s.Playback.Options().MaxExport)
			if err != nil {
				return nil, err
			}
			f, err := s.camera(ctx, c, access.Export, in.ID)
			if err != nil {
				return nil, err
			}
			if origin, err := s.originOf(ctx, in.ID); err != nil {
				return nil, s.internal(ctx, "origin", err)
			} else if origin != "" {
				ex, err := s.Federation.RemoteExport(ctx, federation.RemoteExportRequest{Camera: in.ID, From: from, To: to,
					Purpose: in.Body.Purpose, Requester: in.Body.Requester, By: s.viewerAt(c)})
				if err != nil {
					return nil, s.playbackErr(ctx, err)
				}
				return &struct{ Body playback.EvidenceExport }{ex}, nil
			}
			name := ""
			if cam, err := s.Registry.GetCamera(ctx, in.ID); err == nil {
				name = cam.Name
			}
			ex, err := s.Playback.Create(ctx, playback.ExportRequest{
				Camera: playback.CameraRef{ID: in.ID, Name: name, SystemID: f.SystemID},
				From:   from, To: to, Purpose: in.Body.Purpose, Requester: in.Body.Requester, Performer: c.person(), Remote: c.remote})
			if err != nil {
				return nil, s.playbackErr(ctx, err)
			}
			return &struct{ Body playback.EvidenceExport }{ex}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}/exports", "list-exports", "Exports of a camera", tag),
		func(ctx context.Context, in *struct {
			IDPath
			Limit int `query:"limit" minimum:"0" maximum:"500" default:"100"`
		}) (*struct{ Body []playback.EvidenceExport }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.Export, in.ID); err != nil {
				return nil, err
			}
			l, err := s.Playback.List(ctx, in.ID, in.Limit)
			if err != nil {
				return nil, s.internal(ctx, "exports", err)
			}
			out := []playback.EvidenceExport{}
			for _, ex := range l {
				if ok, _ := s.mayUseExport(ctx, c, ex); ok {
					out = append(out, ex)
				}
			}
			return &struct{ Body []playback.EvidenceExport }{out}, nil
		})

	getExport := func(ctx context.Context, id string) (*caller, playback.EvidenceExport, error) {
		c, err := s.who(ctx, false)
		if err != nil {
			return nil, playback.EvidenceExport{}, err
		}
		ex, err := s.Playback.Get(ctx, id)
		if err != nil {
			if errors.Is(err, playback.ErrNotFound) {
				return nil, ex, Err(c.lang, http.StatusNotFound, "not_found", "id")
			}
			return nil, ex, s.internal(ctx, "export", err)
		}
		if _, err := s.camera(ctx, c, access.Export, ex.CameraID); err != nil {
			return nil, ex, err
		}
		ok, err := s.mayUseExport(ctx, c, ex)
		if err != nil {
			return nil, ex, s.internal(ctx, "export shares", err)
		}
		if !ok {
			return nil, ex, s.deny(ctx, c, access.Export, "export/"+ex.ID, access.Decision{Reason: "no_consent"})
		}
		return c, ex, nil
	}

	huma.Register(s.api, op(http.MethodGet, "/api/v1/exports/{id}", "get-export", "An export and its signed manifest", tag),
		func(ctx context.Context, in *IDPath) (*struct{ Body playback.EvidenceExport }, error) {
			_, ex, err := getExport(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &struct{ Body playback.EvidenceExport }{ex}, nil
		})

	for _, part := range []string{"file", "manifest"} {
		part := part
		summary := "Download the exported MP4 (audited)"
		if part == "manifest" {
			summary = "Download the signed manifest (audited)"
		}
		huma.Register(s.api, op(http.MethodGet, "/api/v1/exports/{id}/"+part, "download-export-"+part, summary, tag),
			func(ctx context.Context, in *IDPath) (*huma.StreamResponse, error) {
				c, ex, err := getExport(ctx, in.ID)
				if err != nil {
					return nil, err
				}
				var f *os.File
				if part == "file" {
					p, err := s.Playback.FilePath(ex)
					if err != nil {
						return nil, s.internal(ctx, "export path", err)
					}
					if f, err = os.Open(p); err != nil {
						return nil, Err(c.lang, http.StatusNotFound, "not_found", "id")
					}
				}
				return &huma.StreamResponse{Body: func(hctx huma.Context) {
					r, w := humago.Unwrap(hctx)
					if rg := r.Header.Get("Range"); rg == "" || strings.HasPrefix(rg, "bytes=0-") {
						if err := s.Playback.AuditDownload(ctx, ex, c.person(), c.remote, part); err != nil {
							writeAPIError(w, asAPIError(s.internal(ctx, "audit download", err)))
							return
						}
					}
					if part == "manifest" {
						w.Header().Set("Content-Type", "application/json")
						w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", ex.ID+".manifest.json"))
						_, _ = w.Write(ex.Manifest)
						return
					}
					defer f.Close()
					w.Header().Set("Content-Type", "video/mp4")
					w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", ex.ID+".mp4"))
					http.ServeContent(w, r, "", ex.CreatedAt, f)
				}}, nil
			})
	}

	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/exports/{id}/release", "release-export", "Release the export's evidence lock (retention may delete the range again)", tag), 204),
		func(ctx context.Context, in *IDPath) (*struct{}, error) {
			c, ex, err := getExport(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			if !c.subj.Highest && c.p.OrgID != ex.Performer.Org {
				return nil, s.deny(ctx, c, access.Export, "export/"+ex.ID, access.Decision{Reason: access.ReasonOtherOrg})
			}
			if ex.OriginSite != "" {
				// The lock is the lower site's: it releases and audits it
				// there, on this user's behalf; this site audits the request.
				if !ex.Locked {
					return nil, nil
				}
				if s.Federation == nil {
					return nil, s.playbackErr(ctx, federation.ErrUnreachable)
				}
				if err := s.Federation.ReleaseRemoteExport(ctx, ex, s.viewerAt(c)); err != nil {
					return nil, s.playbackErr(ctx, err)
				}
				if err := s.Playback.MarkOriginReleased(ctx, ex, c.person(), c.remote); err != nil {
					return nil, s.internal(ctx, "release", err)
				}
				return nil, nil
			}
			if err := s.Playback.Release(ctx, ex, c.person(), c.remote); err != nil {
				return nil, s.playbackErr(ctx, err)
			}
			return nil, nil
		})

	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/exports/{id}/shares", "share-export",
		"Record the managing agency's written consent to share an export with another organisation (R-ACC-7)", tag), 201),
		func(ctx context.Context, in *struct {
			IDPath
			Body shareBody
		}) (*struct{ Body playback.ExportShare }, error) {
			c, ex, err := getExport(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			if !c.subj.Highest && c.p.OrgID != ex.Performer.Org {
				return nil, s.deny(ctx, c, access.Export, "export/"+ex.ID, access.Decision{Reason: access.ReasonOtherOrg})
			}
			if !record.ValidID(in.Body.RecipientOrg) {
				return nil, badField(c.lang, "recipient_org", "mã tổ chức không hợp lệ", "bad organisation id")
			}
			if _, err := s.Registry.GetOrganisation(ctx, in.Body.RecipientOrg); err != nil {
				return nil, badField(c.lang, "recipient_org", "không có tổ chức này", "no such organisation")
			}
			sh, err := s.Playback.AddShare(ctx, ex, playback.ExportShare{RecipientOrg: in.Body.RecipientOrg, ConsentDoc: in.Body.ConsentDoc,
				ConsentDate: in.Body.ConsentDate, ConsentSigner: in.Body.ConsentSigner}, c.person(), c.remote)
			if err != nil {
				return nil, s.playbackErr(ctx, err)
			}
			return &struct{ Body playback.ExportShare }{sh}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/evidence/key", "evidence-key",
		"The site's public key that signs evidence manifests (publish it; `vigil evidence verify --key-id` checks against it)", tag),
		func(ctx context.Context, in *struct{}) (*struct {
			Body struct {
				KeyID     string `json:"key_id"`
				PublicKey string `json:"public_key" doc:"base64 Ed25519 public key"`
			}
		}, error) {
			if _, err := s.who(ctx, false); err != nil {
				return nil, err
			}
			out := &struct {
				Body struct {
					KeyID     string `json:"key_id"`
					PublicKey string `json:"public_key" doc:"base64 Ed25519 public key"`
				}
			}{}
			out.Body.KeyID = s.Playback.KeyID()
			out.Body.PublicKey = base64.StdEncoding.EncodeToString(s.Playback.PublicKey())
			return out, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/recording/status", "recording-status",
		"The recorder of this node: cameras being recorded, last reconcile report", tag),
		func(ctx context.Context, in *struct{}) (*struct {
			Body struct {
				Cameras   []record.RecorderStatus `json:"cameras"`
				Reconcile *record.ReconcileReport `json:"reconcile,omitempty"`
			}
		}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "recording"); err != nil {
				return nil, err
			}
			out := &struct {
				Body struct {
					Cameras   []record.RecorderStatus `json:"cameras"`
					Reconcile *record.ReconcileReport `json:"reconcile,omitempty"`
				}
			}{}
			out.Body.Cameras = s.Recorder.Recording()
			out.Body.Reconcile = s.Recorder.LastReport()
			return out, nil
		})
}

// mayUseExport: an export belongs to the performer's organisation; others
// see it only with the highest access or a recorded consent (R-ACC-7).
func (s *Server) mayUseExport(ctx context.Context, c *caller, ex playback.EvidenceExport) (bool, error) {
	if c.subj.Highest || c.p.OrgID == ex.Performer.Org {
		return true, nil
	}
	return s.Playback.SharedWith(ctx, ex.ID, c.p.OrgID)
}

func hexID(id string) (string, error) {
	if len(id) != 24 {
		return "", errors.New("bad id")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", errors.New("bad id")
		}
	}
	return id, nil
}

// originOf is the lower site of a federated camera at tier 1 ("" for a
// camera recorded here, and on any site that is not a federation hub).
func (s *Server) originOf(ctx context.Context, cameraID string) (string, error) {
	if s.Federation == nil || !s.Federation.IsHub() {
		return "", nil
	}
	return s.Registry.OriginSite(ctx, cameraID)
}

// viewerAt names the caller to a lower site, which writes them into its
// own audit log.
func (s *Server) viewerAt(c *caller) federation.Viewer {
	return federation.Viewer{Site: s.Cfg.Site.ID, UserID: c.p.UserID, Username: c.p.Username, Org: c.p.OrgID, Remote: c.remote}
}

// serveMP4 answers a playback MP4 (with Range requests) and audits its
// start: the first request of a player, not each Range that follows.
// origin names the lower site a federated camera's footage came from.
func (s *Server) serveMP4(ctx context.Context, c *caller, cameraID, origin string, from, to time.Time, download bool,
	start, end time.Time, gaps []playback.RecordedSpan, body io.ReadSeeker, done func()) *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer done()
		r, w := humago.Unwrap(hctx)
		if rg := r.Header.Get("Range"); rg == "" || strings.HasPrefix(rg, "bytes=0-") {
			if err := s.auditPlay(ctx, c, cameraID, "mp4", origin, from, to); err != nil {
				writeAPIError(w, asAPIError(err))
				return
			}
		}
		h := w.Header()
		h.Set("Content-Type", "video/mp4")
		h.Set("X-Vigil-Start", start.Format(time.RFC3339Nano))
		h.Set("X-Vigil-End", end.Format(time.RFC3339Nano))
		if origin != "" {
			h.Set("X-Vigil-Origin-Site", origin)
		}
		if len(gaps) > 0 {
			if b, err := json.Marshal(gaps); err == nil {
				h.Set("X-Vigil-Gaps", string(b))
			}
		}
		if download {
			h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", cameraID+"-"+start.Format("20060102T150405Z")+".mp4"))
		}
		http.ServeContent(w, r, "", start, body)
	}}
}
