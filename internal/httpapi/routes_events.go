package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/events"
	"github.com/vigil-vms/vigil/internal/i18n"
)

// Analytics events (R-CAM-1): the signed webhook, search (plates behind the
// personal-data permission, every search audited with its purpose), traffic
// series, webhook keys and the personal-data permission itself.

func evText(lang i18n.Lang, vi, en string) string {
	if lang == i18n.EN {
		return en
	}
	return vi
}

func evBad(lang i18n.Lang, field, vi, en string) error {
	return ErrMsg(http.StatusUnprocessableEntity, "invalid_input", field, i18n.Text(lang, "invalid_input")+": "+evText(lang, vi, en))
}

// evWhen reads an RFC 3339 time or unix milliseconds ("" is the zero time).
func evWhen(lang i18n.Lang, field, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n < 1<<45 {
		return time.UnixMilli(n).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, evBad(lang, field, "cần thời điểm RFC 3339 hoặc mili giây unix", "want an RFC 3339 time or unix milliseconds")
	}
	return t.UTC(), nil
}

func csvList(v string, max int) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
		if len(out) == max {
			break
		}
	}
	return out
}

func (c *caller) auditActor() audit.Entry {
	return audit.Entry{ActorID: c.p.UserID, Actor: c.p.Username, Org: c.p.OrgID, Remote: c.remote}
}

// eventsErr maps the events room's errors.
func (s *Server) eventsErr(ctx context.Context, err error) error {
	lang := metaOf(ctx).lang
	var re *events.RejectedError
	var fe *events.FieldError
	var se *events.ErrBadSignature
	switch {
	case errors.As(err, &re):
		out := ErrMsg(http.StatusUnprocessableEntity, "event_rejected", "",
			evText(lang, "Sự kiện bị từ chối, không sự kiện nào được lưu", "Event rejected; nothing was stored"))
		for _, r := range re.Rejections {
			out.Details = append(out.Details, FieldDetail{Line: r.Index + 1, Field: r.Field, Code: r.Reason, Message: r.Detail})
		}
		if len(re.Rejections) > 0 {
			out.Field = re.Rejections[0].Field
		}
		return out
	case errors.As(err, &se):
		return ErrMsg(http.StatusUnauthorized, "bad_signature", "X-Vigil-Signature",
			evText(lang, "Chữ ký webhook không hợp lệ: ", "Invalid webhook signature: ")+se.Reason)
	case errors.As(err, &fe):
		return ErrMsg(http.StatusUnprocessableEntity, "invalid_input", fe.Field, i18n.Text(lang, "invalid_input")+": "+fe.Msg)
	case events.IsBadQuery(err):
		return ErrMsg(http.StatusUnprocessableEntity, "invalid_input", "", i18n.Text(lang, "invalid_input")+": "+strings.TrimPrefix(err.Error(), "events: bad query: "))
	case errors.Is(err, events.ErrNotFound):
		return Err(lang, http.StatusNotFound, "not_found", "")
	}
	return s.roomErr(ctx, err)
}

// denyPersonal audits a refusal of personal data and answers 403.
func (s *Server) denyPersonal(ctx context.Context, c *caller, want access.PersonalData, purpose string, d access.Decision) error {
	e := c.auditActor()
	e.Action, e.Object, e.Outcome, e.Reason = "access.denied", "events", audit.Denied, string(d.Reason)
	e.Details = map[string]any{"action": "personal-data", "scopes": want.Names(), "purpose": purpose}
	if _, err := s.Audit.Append(ctx, s.DB.Q(), e); err != nil {
		s.Log.Error("audit append failed", "err", err)
	}
	out := ErrMsg(http.StatusForbidden, "forbidden", "", i18n.Text(c.lang, "forbidden")+": "+
		evText(c.lang, "cần quyền xem dữ liệu cá nhân (biển số, khuôn mặt)", "the personal-data permission (plates, faces) is required"))
	out.Details = []FieldDetail{{Code: string(d.Reason), Message: "reason: " + string(d.Reason)}}
	return out
}

type eventSearchQuery struct {
	Purpose   string `query:"purpose" required:"true" maxLength:"500" doc:"why the search is made (recorded in the audit log with the search)"`
	CameraIDs string `query:"camera_ids" maxLength:"6600" doc:"comma-separated camera ids (at most 100)"`
	Kinds     string `query:"kinds" maxLength:"200" doc:"comma-separated: plate_read, face_match, crowd_density, traffic_count, intrusion, line_crossing"`
	From      string `query:"from" maxLength:"40" doc:"RFC 3339 or unix ms"`
	To        string `query:"to" maxLength:"40" doc:"RFC 3339 or unix ms (exclusive)"`
	Plate     string `query:"plate" maxLength:"32" doc:"plate to search (needs the personal-data permission for plates)"`
	PlateMode string `query:"plate_mode" enum:"exact,prefix,fuzzy,fuzzy_prefix" default:"exact" doc:"fuzzy: tolerant of OCR confusions (0/O/D/Q, 8/B, 1/I/L, 5/S, 2/Z, 6/G)"`
	Limit     int    `query:"limit" minimum:"0" maximum:"500" default:"100"`
	Before    string `query:"before" maxLength:"64" doc:"cursor: next of the previous page"`
}

func (s *Server) routesEvents() {
	if s.Events == nil {
		return
	}
	const tag = "events"
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/events/webhook", "events-webhook",
		"Push analytics events (HMAC-signed with the camera's key)", tag), 202),
		func(ctx context.Context, in *struct {
			Camera    string `header:"X-Vigil-Camera" maxLength:"64"`
			Timestamp string `header:"X-Vigil-Timestamp" maxLength:"20"`
			Signature string `header:"X-Vigil-Signature" maxLength:"80" doc:"sha256=<hex HMAC-SHA256(key, timestamp + \".\" + body)>"`
			RawBody   []byte `contentType:"application/octet-stream"`
		}) (*struct {
			Body struct {
				Stored int `json:"stored" doc:"new events (a repeated external_id is stored once)"`
			}
		}, error) {
			if err := s.Events.VerifyWebhook(ctx, in.Camera, in.Timestamp, in.Signature, in.RawBody); err != nil {
				return nil, s.eventsErr(ctx, err)
			}
			n, err := s.Events.IngestWebhook(ctx, in.Camera, in.RawBody)
			if err != nil {
				return nil, s.eventsErr(ctx, err)
			}
			out := &struct {
				Body struct {
					Stored int `json:"stored" doc:"new events (a repeated external_id is stored once)"`
				}
			}{}
			out.Body.Stored = n
			return out, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/events", "search-events",
		"Search analytics events (purpose required, audited); plates and faces need the personal-data permission", tag),
		func(ctx context.Context, in *eventSearchQuery) (*struct{ Body events.Result }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			q, err := s.eventQuery(ctx, c, in)
			if err != nil {
				return nil, err
			}
			res, err := s.Events.Search(ctx, q)
			if err != nil {
				return nil, s.eventsErr(ctx, err)
			}
			if err := s.Events.AuditSearch(ctx, c.auditActor(), strings.TrimSpace(in.Purpose), q, len(res.Events)); err != nil {
				return nil, s.internal(ctx, "audit search", err)
			}
			return &struct{ Body events.Result }{res}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/events/traffic", "traffic-series",
		"Traffic counts per hour or day, lane and vehicle class", tag),
		func(ctx context.Context, in *struct {
			CameraIDs string `query:"camera_ids" maxLength:"6600"`
			From      string `query:"from" required:"true" maxLength:"40"`
			To        string `query:"to" required:"true" maxLength:"40"`
			Bucket    string `query:"bucket" enum:"hour,day" default:"hour"`
		}) (*struct {
			Body struct {
				Bucket string         `json:"bucket"`
				Points []events.Point `json:"points"`
			}
		}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			from, err := evWhen(c.lang, "from", in.From)
			if err != nil {
				return nil, err
			}
			to, err := evWhen(c.lang, "to", in.To)
			if err != nil {
				return nil, err
			}
			where, args := access.Scope(&c.subj, access.Playback, time.Now())
			pts, err := s.Events.Series(ctx, events.Query{ScopeWhere: where, ScopeArgs: args, CameraIDs: csvList(in.CameraIDs, 100),
				From: from, To: to}, in.Bucket)
			if err != nil {
				return nil, s.eventsErr(ctx, err)
			}
			out := &struct {
				Body struct {
					Bucket string         `json:"bucket"`
					Points []events.Point `json:"points"`
				}
			}{}
			out.Body.Bucket, out.Body.Points = in.Bucket, pts
			return out, nil
		})

	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/cameras/{id}/event-key", "create-event-key",
		"Create (or replace) the camera's webhook key; shown once", tag), 201),
		func(ctx context.Context, in *IDPath) (*struct {
			Body struct {
				CameraID string `json:"camera_id"`
				Key      string `json:"key" doc:"base64url; sign X-Vigil-Timestamp + \".\" + body with HMAC-SHA256"`
			}
		}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.Manage, in.ID); err != nil {
				return nil, err
			}
			k, err := s.Events.CreateKey(ctx, c.auditActor(), in.ID)
			if err != nil {
				return nil, s.eventsErr(ctx, err)
			}
			out := &struct {
				Body struct {
					CameraID string `json:"camera_id"`
					Key      string `json:"key" doc:"base64url; sign X-Vigil-Timestamp + \".\" + body with HMAC-SHA256"`
				}
			}{}
			out.Body.CameraID, out.Body.Key = in.ID, k
			return out, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/users/{id}/personal-data", "get-personal-data-permission",
		"A user's permission to see personal data (plates, faces)", tag),
		func(ctx context.Context, in *IDPath) (*struct{ Body events.PersonalPermission }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if in.ID != c.p.UserID {
				if err := s.site(ctx, c, access.ApproveGrants, "user/"+in.ID+"/personal-data"); err != nil {
					return nil, err
				}
			}
			p, err := s.Events.GetPersonalPermission(ctx, in.ID)
			if err != nil {
				return nil, s.eventsErr(ctx, err)
			}
			return &struct{ Body events.PersonalPermission }{p}, nil
		})
	huma.Register(s.api, op(http.MethodPut, "/api/v1/users/{id}/personal-data", "set-personal-data-permission",
		"Grant, change or (with no scopes) withdraw the personal-data permission", tag),
		func(ctx context.Context, in *struct {
			IDPath
			Body struct {
				Scopes    []string  `json:"scopes" maxItems:"2" doc:"plates, faces; empty withdraws"`
				Basis     string    `json:"basis,omitempty" maxLength:"500" doc:"legal basis or decision (required when granting)"`
				ExpiresAt time.Time `json:"expires_at,omitzero"`
			}
		}) (*struct{ Body events.PersonalPermission }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ApproveGrants, "user/"+in.ID+"/personal-data"); err != nil {
				return nil, err
			}
			p, err := s.Events.SetPersonalPermission(ctx, c.auditActor(), in.ID, in.Body.Scopes, in.Body.Basis, in.Body.ExpiresAt)
			if err != nil {
				return nil, s.eventsErr(ctx, err)
			}
			return &struct{ Body events.PersonalPermission }{p}, nil
		})
}

// eventQuery builds the scoped query and decides the personal data: the
// caller sees events of the cameras they may play back; plates and faces
// only with the permission, and asking for them without it is refused and
// audited.
func (s *Server) eventQuery(ctx context.Context, c *caller, in *eventSearchQuery) (events.Query, error) {
	purpose := strings.TrimSpace(in.Purpose)
	if len([]rune(purpose)) < 5 {
		return events.Query{}, evBad(c.lang, "purpose", "cần nêu mục đích tìm kiếm (ít nhất 5 ký tự)", "state the purpose of the search (at least 5 characters)")
	}
	from, err := evWhen(c.lang, "from", in.From)
	if err != nil {
		return events.Query{}, err
	}
	to, err := evWhen(c.lang, "to", in.To)
	if err != nil {
		return events.Query{}, err
	}
	now := time.Now()
	g, err := s.Events.PersonalGrant(ctx, c.p.UserID)
	if err != nil {
		return events.Query{}, s.internal(ctx, "personal grant", err)
	}
	kinds := csvList(in.Kinds, 6)
	var want access.PersonalData
	if in.Plate != "" {
		want |= access.PersonalPlates
	}
	for _, k := range kinds {
		if k == events.KindFace {
			want |= access.PersonalFaces
		}
	}
	if d := access.DecidePersonal(&c.subj, g, want, now); !d.Allow {
		return events.Query{}, s.denyPersonal(ctx, c, want, purpose, d)
	}
	where, args := access.Scope(&c.subj, access.Playback, now)
	return events.Query{ScopeWhere: where, ScopeArgs: args, CameraIDs: csvList(in.CameraIDs, 100), Kinds: kinds,
		From: from, To: to, Plate: in.Plate, PlateMode: in.PlateMode, Personal: g.Effective(now), Limit: in.Limit, Before: in.Before}, nil
}
