package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/i18n"
	"github.com/vigil-vms/vigil/internal/media"
)

// opsErr maps the health and ops rooms' errors (shared types) to the API's,
// falling back to roomErr.
func (s *Server) opsErr(ctx context.Context, err error) error {
	lang := metaOf(ctx).lang
	var ie *health.InputError
	var se *health.StateError
	switch {
	case errors.As(err, &ie):
		return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_input", Field: ie.Field,
			Message: i18n.Text(lang, "invalid_input") + ": " + ie.Field + ": " + ie.Msg,
			Details: []FieldDetail{{Field: ie.Field, Code: ie.Code, Message: ie.Msg}}}
	case errors.As(err, &se):
		code := se.Code
		if code != "version_conflict" && code != "duplicate_id" {
			code = "conflict"
		}
		return &APIError{Status: http.StatusConflict, Code: code, Field: se.Field,
			Message: i18n.Text(lang, "conflict") + ": " + se.Msg,
			Details: []FieldDetail{{Field: se.Field, Code: se.Code, Message: se.Msg}}}
	case errors.Is(err, health.ErrNotFound):
		return Err(lang, http.StatusNotFound, "not_found", "")
	}
	return s.roomErr(ctx, err)
}

// CameraHealth is a camera's live state (from the hub), stored status and
// uptime over the window asked.
type CameraHealth struct {
	CameraID  string        `json:"camera_id"`
	Status    string        `json:"status"`
	Since     time.Time     `json:"since,omitzero"`
	LastError string        `json:"last_error,omitempty"`
	Live      []media.State `json:"live,omitempty"`
	Uptime    health.Uptime `json:"uptime"`
}

type windowQuery struct {
	Hours int `query:"hours" minimum:"1" maximum:"8784" default:"24" doc:"uptime window ending now"`
}

func (s *Server) liveStates(id string) []media.State {
	if s.Hub == nil {
		return nil
	}
	st, _ := s.Hub.State(id)
	return st
}

// canSeeSystem: the highest organisation, or the system's own organisations.
func canSeeSystem(c *caller, managing, operating string) bool {
	return c.subj.Highest || c.p.OrgID == managing || c.p.OrgID == operating
}

// incidentRole: may act on an incident (acknowledge, resolve): the highest
// organisation's staff, or the assigned operating unit's or the managing
// agency's, holding the admin or operator role.
func incidentStaff(c *caller, i *health.Incident) bool {
	if c.subj.Roles&(access.RoleAdmin|access.RoleOperator) == 0 {
		return false
	}
	return c.subj.Highest || c.p.OrgID == i.AssignedOrgID || c.p.OrgID == i.ManagingOrgID
}

func concerns(c *caller, i *health.Incident) bool {
	return c.subj.Highest || c.p.OrgID == i.AssignedOrgID || c.p.OrgID == i.ManagingOrgID || c.p.OrgID == i.ReporterOrgID
}

func (s *Server) healthActor(c *caller) health.Actor {
	return health.Actor{ID: c.p.UserID, Name: c.p.Username, OrgID: c.p.OrgID, Remote: c.remote}
}

func (s *Server) routesHealth() {
	if s.Health == nil {
		return
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/health/cameras", "health-cameras",
		"Status and uptime of every camera the caller may watch", "health"),
		func(ctx context.Context, in *windowQuery) (*struct{ Body []CameraHealth }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			sts, err := s.Health.Statuses(ctx)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			ids, err := s.Health.CameraIDs(ctx)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			now := time.Now()
			from := now.Add(-time.Duration(in.Hours) * time.Hour)
			out := []CameraHealth{}
			for _, id := range ids {
				if !c.subj.Highest {
					f, err := s.Registry.CameraFacts(ctx, id)
					if err != nil {
						continue
					}
					cam := CameraOf(f)
					if !access.Decide(&c.subj, access.ViewLive, &cam, now).Allow {
						continue
					}
				}
				st := sts[id]
				u, err := s.Health.CameraUptime(ctx, id, from, now)
				if err != nil {
					return nil, s.opsErr(ctx, err)
				}
				out = append(out, CameraHealth{CameraID: id, Status: st.Status, Since: st.Since, LastError: st.LastError, Uptime: u})
			}
			return &struct{ Body []CameraHealth }{out}, nil
		})

	type camHist struct {
		CameraHealth
		History []health.StatusEvent `json:"history"`
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/health/cameras/{id}", "health-camera",
		"A camera's live state, status history and uptime", "health"),
		func(ctx context.Context, in *struct {
			IDPath
			Hours int `query:"hours" minimum:"1" maximum:"8784" default:"24" doc:"history and uptime window ending now"`
		}) (*struct{ Body camHist }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.ViewLive, in.ID); err != nil {
				return nil, err
			}
			now := time.Now()
			from := now.Add(-time.Duration(in.Hours) * time.Hour)
			sts, err := s.Health.Statuses(ctx)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			u, err := s.Health.CameraUptime(ctx, in.ID, from, now)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			h, err := s.Health.History(ctx, in.ID, from, now, 1000)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			st := sts[in.ID]
			out := camHist{CameraHealth: CameraHealth{CameraID: in.ID, Status: st.Status, Since: st.Since, LastError: st.LastError,
				Live: s.liveStates(in.ID), Uptime: u}, History: h}
			return &struct{ Body camHist }{out}, nil
		})

	type sysHealth struct {
		SystemID string        `json:"system_id"`
		Cameras  int           `json:"cameras"`
		Online   int           `json:"online"`
		Uptime   health.Uptime `json:"uptime"`
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/health/systems", "health-systems",
		"Uptime per system (the caller's own systems; every system for the highest organisation) and for the site", "health"),
		func(ctx context.Context, in *windowQuery) (*struct {
			Body struct {
				Systems []sysHealth   `json:"systems"`
				Site    health.Uptime `json:"site"`
			}
		}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			groups, err := s.Health.Systems(ctx)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			sts, err := s.Health.Statuses(ctx)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			now := time.Now()
			from := now.Add(-time.Duration(in.Hours) * time.Hour)
			out := &struct {
				Body struct {
					Systems []sysHealth   `json:"systems"`
					Site    health.Uptime `json:"site"`
				}
			}{}
			out.Body.Systems = []sysHealth{}
			var all []string
			for _, g := range groups {
				if !canSeeSystem(c, g.ManagingOrgID, g.OperatingOrgID) {
					continue
				}
				u, err := s.Health.GroupUptime(ctx, g.Cameras, from, now)
				if err != nil {
					return nil, s.opsErr(ctx, err)
				}
				sh := sysHealth{SystemID: g.SystemID, Cameras: len(g.Cameras), Uptime: u}
				for _, id := range g.Cameras {
					if sts[id].Status == health.StatusOnline {
						sh.Online++
					}
				}
				all = append(all, g.Cameras...)
				out.Body.Systems = append(out.Body.Systems, sh)
			}
			if out.Body.Site, err = s.Health.GroupUptime(ctx, all, from, now); err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return out, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/health/node", "health-node",
		"This node's disk, CPU load and memory", "health"),
		func(ctx context.Context, in *struct{}) (*struct{ Body health.NodeHealth }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "health/node"); err != nil {
				return nil, err
			}
			return &struct{ Body health.NodeHealth }{s.Health.NodeStats(s.Cfg.DataDir)}, nil
		})

	s.routesIncidents()
}

func (s *Server) routesIncidents() {
	huma.Register(s.api, op(http.MethodGet, "/api/v1/incidents", "list-incidents",
		"Incidents: all for the highest organisation; otherwise those assigned to, managed by or reported by the caller's organisation", "incidents"),
		func(ctx context.Context, in *struct {
			State    string `query:"state" enum:",active,open,acknowledged,resolved,closed"`
			CameraID string `query:"camera_id" maxLength:"64"`
			Category string `query:"category" maxLength:"64"`
			Overdue  bool   `query:"overdue"`
			Limit    int    `query:"limit" minimum:"1" maximum:"5000" default:"500"`
		}) (*struct{ Body []health.Incident }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			f := health.Filter{State: in.State, CameraID: in.CameraID, Category: in.Category, Overdue: in.Overdue, Limit: in.Limit}
			if !c.subj.Highest {
				f.OrgID = c.p.OrgID
			}
			is, err := s.Health.List(ctx, f)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body []health.Incident }{is}, nil
		})

	type reportIn struct {
		Body struct {
			Category    string `json:"category" minLength:"1" maxLength:"64" doc:"camera_offline, no_frames, recording_stopped, link_down, storage, camera_damaged, image_quality, power, network, security, other"`
			CameraID    string `json:"camera_id,omitempty" maxLength:"64"`
			SystemID    string `json:"system_id,omitempty" maxLength:"64"`
			Title       string `json:"title" minLength:"1" maxLength:"300"`
			Description string `json:"description,omitempty" maxLength:"5000"`
		}
	}
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/incidents", "report-incident",
		"Report a problem (any agency, R-OPS-5): deadline detection + 24 h, assigned to the system's operating unit", "incidents"), 201),
		func(ctx context.Context, in *reportIn) (*struct{ Body health.Incident }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			b := in.Body
			if b.CameraID != "" {
				// Reporting on a camera needs sight of it: ids cannot be probed.
				if _, err := s.camera(ctx, c, access.ViewLive, b.CameraID); err != nil {
					return nil, err
				}
			}
			inc, err := s.Health.Open(ctx, s.healthActor(c), health.Report{Category: b.Category, CameraID: b.CameraID,
				SystemID: b.SystemID, Title: b.Title, Description: b.Description})
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body health.Incident }{inc}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/incidents/{id}", "get-incident", "An incident", "incidents"),
		func(ctx context.Context, in *IDPath) (*struct{ Body health.Incident }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			inc, err := s.Health.Get(ctx, in.ID)
			if err == nil && !concerns(c, &inc) {
				return nil, s.deny(ctx, c, access.ManageRegistry, "incident/"+in.ID, access.Decision{Reason: access.ReasonNotOwner})
			}
			if err != nil {
				if !c.subj.Highest && errors.Is(err, health.ErrNotFound) {
					return nil, s.deny(ctx, c, access.ManageRegistry, "incident/"+in.ID, access.Decision{Reason: access.ReasonNoRule})
				}
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body health.Incident }{inc}, nil
		})

	huma.Register(s.api, op(http.MethodPost, "/api/v1/incidents/{id}/{action}", "incident-transition",
		"Move an incident: acknowledge, resolve (note required), close, reopen", "incidents"),
		func(ctx context.Context, in *struct {
			IDPath
			Action string `path:"action" enum:"acknowledge,resolve,close,reopen"`
			Body   struct {
				Note string `json:"note,omitempty" maxLength:"5000"`
			}
		}) (*struct{ Body health.Incident }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			inc, err := s.Health.Get(ctx, in.ID)
			if err != nil {
				if !c.subj.Highest && errors.Is(err, health.ErrNotFound) {
					return nil, s.deny(ctx, c, access.ManageRegistry, "incident/"+in.ID, access.Decision{Reason: access.ReasonNoRule})
				}
				return nil, s.opsErr(ctx, err)
			}
			allowed := incidentStaff(c, &inc)
			if in.Action == health.ActClose || in.Action == health.ActReopen {
				// The reporter's organisation confirms the fix, too.
				allowed = allowed || (c.p.OrgID == inc.ReporterOrgID && inc.ReporterOrgID != "")
			}
			if !allowed {
				return nil, s.deny(ctx, c, access.ManageRegistry, "incident/"+in.ID, access.Decision{Reason: access.ReasonNotOwner})
			}
			out, err := s.Health.Transition(ctx, s.healthActor(c), in.ID, in.Action, in.Body.Note)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body health.Incident }{out}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/incidents/{id}/notifications", "incident-notifications",
		"Notifications sent (or pending) for an incident", "incidents"),
		func(ctx context.Context, in *IDPath) (*struct{ Body []health.Notification }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			inc, err := s.Health.Get(ctx, in.ID)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			if !incidentStaff(c, &inc) {
				return nil, s.deny(ctx, c, access.ManageRegistry, "incident/"+in.ID, access.Decision{Reason: access.ReasonNotOwner})
			}
			ns, err := s.Health.Notifications(ctx, in.ID, 0)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body []health.Notification }{ns}, nil
		})
}
