package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/federation"
	"github.com/vigil-vms/vigil/internal/i18n"
)

type enrollmentBody struct {
	SiteID   string   `json:"site_id" maxLength:"64" doc:"the lower site's id (its JetStream domain)"`
	Systems  []string `json:"systems" maxItems:"1000" doc:"systems (registered here with this site_id) the site speaks for"`
	TTLHours int      `json:"ttl_hours,omitempty" minimum:"0" maximum:"720" doc:"token validity; default 24"`
}

type siteIDPath struct {
	ID string `path:"id" maxLength:"64"`
}

func (s *Server) fedErr(ctx context.Context, err error) error {
	lang := metaOf(ctx).lang
	switch {
	case errors.Is(err, federation.ErrNotFound):
		return Err(lang, http.StatusNotFound, "not_found", "")
	case errors.Is(err, federation.ErrInvalid):
		return ErrMsg(http.StatusUnprocessableEntity, "invalid_input", "", i18n.Text(lang, "invalid_input")+": "+err.Error())
	case errors.Is(err, federation.ErrTokenUsed):
		return ErrMsg(http.StatusForbidden, "enrollment_refused", "token", "enrollment token unknown, used, expired or for another site")
	case errors.Is(err, federation.ErrUnreachable):
		return ErrMsg(http.StatusBadGateway, "site_unreachable", "", "the lower site did not answer over its link")
	case errors.Is(err, federation.ErrNotTier1):
		return ErrMsg(http.StatusConflict, "not_tier1", "", "only a tier-1 site with federation.leaf_listen enrolls other sites")
	}
	return s.roomErr(ctx, err)
}

// fedAdmin is a caller allowed to manage federation: the registry managers
// of the highest-access organisation (R-ACC-1).
func (s *Server) fedAdmin(ctx context.Context, object string) (*caller, error) {
	c, err := s.who(ctx, false)
	if err != nil {
		return nil, err
	}
	if err := s.site(ctx, c, access.ManageRegistry, object); err != nil {
		return nil, err
	}
	return c, nil
}

func fedActor(c *caller) federation.Actor {
	return federation.Actor{UserID: c.p.UserID, Username: c.p.Username, OrgID: c.p.OrgID, Remote: c.remote}
}

func (s *Server) routesFederation() {
	if s.Federation == nil || !s.Federation.Enabled() {
		return
	}
	f := s.Federation
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/federation/enrollments", "create-enrollment",
		"Issue a one-time enrollment token for a lower site", "federation"), 201),
		func(ctx context.Context, in *struct{ Body enrollmentBody }) (*struct{ Body federation.Enrollment }, error) {
			c, err := s.fedAdmin(ctx, "site/"+in.Body.SiteID)
			if err != nil {
				return nil, err
			}
			e, err := f.CreateEnrollment(ctx, fedActor(c), in.Body.SiteID, in.Body.Systems, time.Duration(in.Body.TTLHours)*time.Hour)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body federation.Enrollment }{e}, nil
		})
	enroll := op(http.MethodPost, "/api/v1/federation/enroll", "enroll", "Redeem an enrollment token (called by `vigil enroll`)", "federation")
	enroll.Security = []map[string][]string{}
	huma.Register(s.api, enroll,
		func(ctx context.Context, in *struct {
			Body federation.EnrollRequest
		}) (*struct{ Body federation.Credentials }, error) {
			m := metaOf(ctx)
			if !s.loginLimiter.allow(m.remote) {
				return nil, Err(m.lang, http.StatusTooManyRequests, "rate_limited", "")
			}
			cr, err := f.Redeem(ctx, in.Body.Token, in.Body.SiteID, m.remote)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body federation.Credentials }{cr}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/federation/sites", "list-sites", "Lower sites with link state", "federation"),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []federation.Site }, error) {
			if _, err := s.fedAdmin(ctx, "federation"); err != nil {
				return nil, err
			}
			out, err := f.Sites(ctx)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body []federation.Site }{out}, nil
		})
	type siteDetail struct {
		Site   federation.Site        `json:"site"`
		Events []federation.LinkEvent `json:"events"`
		Alerts []federation.Alert     `json:"alerts"`
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/federation/sites/{id}", "get-site", "A lower site, its link history and alerts (R-FED-3)", "federation"),
		func(ctx context.Context, in *siteIDPath) (*struct{ Body siteDetail }, error) {
			if _, err := s.fedAdmin(ctx, "site/"+in.ID); err != nil {
				return nil, err
			}
			x, err := f.GetSite(ctx, in.ID)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			evs, als, err := f.LinkHistory(ctx, in.ID, 200)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body siteDetail }{siteDetail{x, evs, als}}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodDelete, "/api/v1/federation/sites/{id}", "revoke-site", "Revoke a lower site (cuts its link)", "federation"), 204),
		func(ctx context.Context, in *siteIDPath) (*struct{}, error) {
			c, err := s.fedAdmin(ctx, "site/"+in.ID)
			if err != nil {
				return nil, err
			}
			if err := f.Revoke(ctx, fedActor(c), in.ID); err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return nil, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/federation/alerts", "list-link-alerts", "Link-down alerts", "federation"),
		func(ctx context.Context, in *struct {
			Open bool `query:"open" doc:"only open alerts"`
		}) (*struct{ Body []federation.Alert }, error) {
			if _, err := s.fedAdmin(ctx, "federation"); err != nil {
				return nil, err
			}
			out, err := f.Alerts(ctx, "", in.Open)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body []federation.Alert }{out}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/federation/sites/{id}/audit/verify", "verify-site-audit",
		"Verify the hash chain of a lower site's shipped audit log", "federation"),
		func(ctx context.Context, in *siteIDPath) (*struct{ Body federation.AuditReport }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ReadAudit, "site/"+in.ID+"/audit"); err != nil {
				return nil, err
			}
			r, err := f.VerifySiteAudit(ctx, in.ID)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body federation.AuditReport }{r}, nil
		})
	type camPage struct {
		Items []federation.FedCamera `json:"items"`
		Total int                    `json:"total"`
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/federation/cameras", "list-federated-cameras", "Cameras held for lower sites, with site and link state", "federation"),
		func(ctx context.Context, in *struct {
			Site   string `query:"site" maxLength:"64"`
			Limit  int    `query:"limit" minimum:"0" maximum:"1000" default:"100"`
			Offset int    `query:"offset" minimum:"0" maximum:"1000000"`
		}) (*struct{ Body camPage }, error) {
			if _, err := s.fedAdmin(ctx, "federation"); err != nil {
				return nil, err
			}
			items, total, err := f.FederatedCameras(ctx, in.Site, in.Limit, in.Offset)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body camPage }{camPage{items, total}}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/federation/overdue", "list-overdue", "Cameras not connected to tier 1 within 5 days of installation or change (R-FED-2)", "federation"),
		func(ctx context.Context, in *struct {
			All bool `query:"all" doc:"every camera with a deadline, not only the overdue ones"`
		}) (*struct{ Body []federation.Deadline }, error) {
			if _, err := s.fedAdmin(ctx, "federation"); err != nil {
				return nil, err
			}
			out, err := f.Overdue(ctx, time.Now(), in.All)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body []federation.Deadline }{out}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/federation/sites/{id}/remote-status", "ask-site-status",
		"Ask a lower site for its outbox position over the link (request/reply)", "federation"),
		func(ctx context.Context, in *siteIDPath) (*struct{ Body federation.AskReply }, error) {
			if _, err := s.fedAdmin(ctx, "site/"+in.ID); err != nil {
				return nil, err
			}
			r, err := f.Ask(ctx, in.ID, federation.AskRequest{Op: "status"})
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body federation.AskReply }{r}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/federation/status", "federation-status", "This site's upward link and outbox position", "federation"),
		func(ctx context.Context, _ *struct{}) (*struct{ Body federation.ShipStats }, error) {
			if _, err := s.fedAdmin(ctx, "federation"); err != nil {
				return nil, err
			}
			st, err := f.Stats(ctx)
			if err != nil {
				return nil, s.fedErr(ctx, err)
			}
			return &struct{ Body federation.ShipStats }{st}, nil
		})
}
