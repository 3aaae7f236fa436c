package httpapi

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/i18n"
	"github.com/vigil-vms/vigil/internal/registry"
)

type IDPath struct {
	ID string `path:"id" maxLength:"64"`
}

type VersionQuery struct {
	Version int64 `query:"version" doc:"the version read; a stale one is refused with 409 version_conflict"`
}

type PageQuery struct {
	Q      string `query:"q" maxLength:"200" doc:"search words; case and Vietnamese diacritics are ignored"`
	Limit  int    `query:"limit" minimum:"0" maximum:"500" default:"50"`
	Offset int    `query:"offset" minimum:"0" maximum:"1000000"`
}

type orgBody struct {
	ID                string   `json:"id,omitempty" maxLength:"64"`
	Name              string   `json:"name"`
	Kind              string   `json:"kind" enum:"department,managing_agency,operating_unit,user_agency,commune,private_owner"`
	ParentID          string   `json:"parent_id,omitempty"`
	Functions         []string `json:"functions,omitempty" doc:"purposes the organisation serves (R-ACC-3)"`
	AreaLimit         []string `json:"area_limit,omitempty" doc:"areas a user agency is limited to; empty = any"`
	ClearedClassified bool     `json:"cleared_classified,omitempty" doc:"may see state-secret cameras (R-CAM-4)"`
	Version           int64    `json:"version,omitempty" doc:"on update: the version read"`
}

func (b orgBody) toOrg() registry.Organisation {
	return registry.Organisation{ID: b.ID, Name: b.Name, Kind: b.Kind, ParentID: b.ParentID, Functions: b.Functions,
		AreaLimit: b.AreaLimit, ClearedClassified: b.ClearedClassified, Version: b.Version}
}

type systemBody struct {
	ID             string `json:"id,omitempty" maxLength:"64"`
	Name           string `json:"name"`
	Tier           int    `json:"tier"`
	ManagingOrgID  string `json:"managing_org_id"`
	OperatingOrgID string `json:"operating_org_id"`
	SiteID         string `json:"site_id,omitempty" doc:"the site that owns the system; default this site"`
	PublicSharing  bool   `json:"public_sharing,omitempty"`
	Version        int64  `json:"version,omitempty"`
}

func (b systemBody) toSystem(site string) registry.System {
	if b.SiteID == "" {
		b.SiteID = site
	}
	return registry.System{ID: b.ID, Name: b.Name, Tier: b.Tier, ManagingOrgID: b.ManagingOrgID,
		OperatingOrgID: b.OperatingOrgID, SiteID: b.SiteID, PublicSharing: b.PublicSharing, Version: b.Version}
}

func (s *Server) routesRegistry() {
	// Organisations and systems: readable by every signed-in user (the tree
	// of the console), changed by the registry managers.
	huma.Register(s.api, op(http.MethodGet, "/api/v1/organisations", "list-organisations", "List organisations", "registry"),
		func(ctx context.Context, in *struct {
			PageQuery
			Kind string `query:"kind" maxLength:"32"`
		}) (*struct{ Body registry.OrgPage }, error) {
			if _, err := s.who(ctx, false); err != nil {
				return nil, err
			}
			p, err := s.Registry.ListOrganisations(ctx, registry.OrgFilter{Q: in.Q, Kind: in.Kind, Limit: in.Limit, Offset: in.Offset})
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body registry.OrgPage }{p}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/organisations/{id}", "get-organisation", "Get an organisation", "registry"),
		func(ctx context.Context, in *IDPath) (*struct{ Body registry.Organisation }, error) {
			if _, err := s.who(ctx, false); err != nil {
				return nil, err
			}
			o, err := s.Registry.GetOrganisation(ctx, in.ID)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body registry.Organisation }{o}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/organisations", "create-organisation", "Create an organisation", "registry"), 201),
		func(ctx context.Context, in *struct{ Body orgBody }) (*struct{ Body registry.Organisation }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "organisation/"+in.Body.ID); err != nil {
				return nil, err
			}
			o, err := s.Registry.CreateOrganisation(ctx, c.regActor(), in.Body.toOrg())
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body registry.Organisation }{o}, nil
		})
	huma.Register(s.api, op(http.MethodPut, "/api/v1/organisations/{id}", "update-organisation", "Replace an organisation", "registry"),
		func(ctx context.Context, in *struct {
			IDPath
			Body orgBody
		}) (*struct{ Body registry.Organisation }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "organisation/"+in.ID); err != nil {
				return nil, err
			}
			o, err := s.Registry.UpdateOrganisation(ctx, c.regActor(), in.ID, in.Body.Version, in.Body.toOrg())
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body registry.Organisation }{o}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodDelete, "/api/v1/organisations/{id}", "delete-organisation", "Delete an organisation", "registry"), 204),
		func(ctx context.Context, in *IDPath) (*struct{}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "organisation/"+in.ID); err != nil {
				return nil, err
			}
			return nil, s.roomErrOrNil(ctx, s.Registry.DeleteOrganisation(ctx, c.regActor(), in.ID))
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/systems", "list-systems", "List camera systems", "registry"),
		func(ctx context.Context, in *struct {
			PageQuery
			Tier  int    `query:"tier" minimum:"0" maximum:"3"`
			OrgID string `query:"org_id" maxLength:"64"`
		}) (*struct{ Body registry.SystemPage }, error) {
			if _, err := s.who(ctx, false); err != nil {
				return nil, err
			}
			p, err := s.Registry.ListSystems(ctx, registry.SystemFilter{Q: in.Q, Tier: in.Tier, OrgID: in.OrgID, Limit: in.Limit, Offset: in.Offset})
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body registry.SystemPage }{p}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/systems/{id}", "get-system", "Get a camera system", "registry"),
		func(ctx context.Context, in *IDPath) (*struct{ Body registry.System }, error) {
			if _, err := s.who(ctx, false); err != nil {
				return nil, err
			}
			o, err := s.Registry.GetSystem(ctx, in.ID)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body registry.System }{o}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/systems", "create-system", "Create a camera system", "registry"), 201),
		func(ctx context.Context, in *struct{ Body systemBody }) (*struct{ Body registry.System }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "system/"+in.Body.ID); err != nil {
				return nil, err
			}
			o, err := s.Registry.CreateSystem(ctx, c.regActor(), in.Body.toSystem(s.Cfg.Site.ID))
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body registry.System }{o}, nil
		})
	huma.Register(s.api, op(http.MethodPut, "/api/v1/systems/{id}", "update-system", "Replace a camera system", "registry"),
		func(ctx context.Context, in *struct {
			IDPath
			Body systemBody
		}) (*struct{ Body registry.System }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "system/"+in.ID); err != nil {
				return nil, err
			}
			o, err := s.Registry.UpdateSystem(ctx, c.regActor(), in.ID, in.Body.Version, in.Body.toSystem(s.Cfg.Site.ID))
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			s.reload(ctx) // public sharing and stream sources follow the system at once
			return &struct{ Body registry.System }{o}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodDelete, "/api/v1/systems/{id}", "delete-system", "Delete a camera system", "registry"), 204),
		func(ctx context.Context, in *IDPath) (*struct{}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "system/"+in.ID); err != nil {
				return nil, err
			}
			return nil, s.roomErrOrNil(ctx, s.Registry.DeleteSystem(ctx, c.regActor(), in.ID))
		})

	// Cameras: the list is scoped in SQL by the caller's view-live rights.
	type cameraListIn struct {
		PageQuery
		SystemID   string `query:"system_id" maxLength:"64"`
		Area       string `query:"area" maxLength:"32"`
		Kind       string `query:"kind" maxLength:"32"`
		Purpose    string `query:"purpose" maxLength:"32"`
		AdminUnit  string `query:"admin_unit" maxLength:"200"`
		Public     string `query:"public" enum:",true,false"`
		Classified string `query:"classified" enum:",true,false"`
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras", "list-cameras", "List the cameras I may watch", "registry"),
		func(ctx context.Context, in *cameraListIn) (*struct{ Body registry.CameraPage }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			where, args := access.Scope(&c.subj, access.ViewLive, time.Now())
			f := registry.CameraFilter{SystemID: in.SystemID, Area: in.Area, Kind: in.Kind, Purpose: in.Purpose,
				AdminUnit: in.AdminUnit, Q: in.Q, Limit: in.Limit, Offset: in.Offset,
				Public: boolPtr(in.Public), Classified: boolPtr(in.Classified)}
			p, err := s.Registry.ListCameras(ctx, registry.Scope{From: access.ScopeFrom, Where: where, Args: args}, f)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body registry.CameraPage }{p}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}", "get-camera", "Get a camera", "registry"),
		func(ctx context.Context, in *IDPath) (*struct{ Body registry.Camera }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.ViewLive, in.ID); err != nil {
				return nil, err
			}
			cam, err := s.Registry.GetCamera(ctx, in.ID)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body registry.Camera }{cam}, nil
		})
	type decisionOut struct {
		Body access.Decision
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}/decision", "camera-decision", "May I do this action on this camera, and why", "access"),
		func(ctx context.Context, in *struct {
			IDPath
			Action string `query:"action" enum:"view-live,playback,export,ptz,manage" required:"true"`
		}) (*decisionOut, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			a, err := access.ParseAction(in.Action)
			if err != nil {
				return nil, ErrMsg(422, "invalid_input", "action", err.Error())
			}
			f, err := s.Registry.CameraFacts(ctx, in.ID)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			cam := CameraOf(f)
			return &decisionOut{Body: access.Decide(&c.subj, a, &cam, time.Now())}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/cameras", "create-camera", "Register a camera", "registry"), 201),
		func(ctx context.Context, in *struct{ Body registry.CameraInput }) (*struct{ Body registry.Camera }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.manageSystem(ctx, c, in.Body.SystemID, "camera/"+in.Body.ID); err != nil {
				return nil, err
			}
			cam, err := s.Registry.CreateCamera(ctx, c.regActor(), in.Body)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			s.reload(ctx)
			return &struct{ Body registry.Camera }{cam}, nil
		})
	huma.Register(s.api, op(http.MethodPut, "/api/v1/cameras/{id}", "update-camera", "Replace a camera (credentials kept unless given or cleared)", "registry"),
		func(ctx context.Context, in *struct {
			IDPath
			VersionQuery
			Body registry.CameraInput
		}) (*struct{ Body registry.Camera }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			f, err := s.camera(ctx, c, access.Manage, in.ID)
			if err != nil {
				return nil, err
			}
			if in.Body.SystemID != "" && in.Body.SystemID != f.SystemID {
				if err := s.manageSystem(ctx, c, in.Body.SystemID, "camera/"+in.ID); err != nil {
					return nil, err
				}
			}
			cam, err := s.Registry.UpdateCamera(ctx, c.regActor(), in.ID, in.Version, in.Body)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			s.reload(ctx)
			return &struct{ Body registry.Camera }{cam}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodDelete, "/api/v1/cameras/{id}", "delete-camera", "Remove a camera", "registry"), 204),
		func(ctx context.Context, in *IDPath) (*struct{}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.Manage, in.ID); err != nil {
				return nil, err
			}
			if err := s.Registry.DeleteCamera(ctx, c.regActor(), in.ID); err != nil {
				return nil, s.roomErr(ctx, err)
			}
			s.reload(ctx)
			return nil, nil
		})

	type importIn struct {
		RawBody []byte `contentType:"text/csv"`
	}
	imp := withStatus(op(http.MethodPost, "/api/v1/cameras/import", "import-cameras",
		"Import cameras from CSV: all rows or none; every bad row is reported with its line and field", "registry"), 201)
	imp.MaxBodyBytes = s.Cfg.HTTP.MaxBodyBytes
	huma.Register(s.api, imp, func(ctx context.Context, in *importIn) (*struct{ Body registry.ImportResult }, error) {
		c, err := s.who(ctx, false)
		if err != nil {
			return nil, err
		}
		opt := registry.ImportOptions{MaxBytes: s.Cfg.HTTP.MaxBodyBytes}
		rows, err := registry.ParseCameraCSV(bytes.NewReader(in.RawBody), opt)
		if err != nil {
			return nil, s.roomErr(ctx, err)
		}
		// Every system named must be one the caller manages.
		seen := map[string]bool{}
		for _, r := range rows {
			if sys := r.Camera.SystemID; sys != "" && !seen[sys] {
				seen[sys] = true
				if err := s.manageSystem(ctx, c, sys, "camera.import"); err != nil {
					return nil, err
				}
			}
		}
		res, err := s.Registry.ImportCameras(ctx, c.regActor(), bytes.NewReader(in.RawBody), opt)
		if err != nil {
			return nil, s.roomErr(ctx, err)
		}
		s.reload(ctx)
		return &struct{ Body registry.ImportResult }{res}, nil
	})
}

// manageSystem decides "manage" on a would-be camera of system id: the
// highest organisation and the system's managing agency and operating unit.
func (s *Server) manageSystem(ctx context.Context, c *caller, systemID, object string) error {
	sys, err := s.Registry.GetSystem(ctx, systemID)
	if err != nil {
		if c.subj.Highest && errors.Is(err, registry.ErrNotFound) {
			// Only those who may know which systems exist are told.
			return ErrMsg(http.StatusUnprocessableEntity, "invalid_input", "system_id", i18n.Text(c.lang, "invalid_input")+": no such system")
		}
		if c.subj.Highest {
			return s.roomErr(ctx, err)
		}
		return s.deny(ctx, c, access.Manage, object, access.Decision{Reason: "no_rule"})
	}
	cam := access.Camera{ID: object, SystemID: sys.ID, ManagingOrg: sys.ManagingOrgID, OperatingOrg: sys.OperatingOrgID}
	d := access.Decide(&c.subj, access.Manage, &cam, time.Now())
	if !d.Allow {
		return s.deny(ctx, c, access.Manage, object, d)
	}
	return nil
}

func (s *Server) reload(ctx context.Context) {
	if s.ReloadMedia != nil {
		s.ReloadMedia(context.WithoutCancel(ctx))
	}
}

func (s *Server) roomErrOrNil(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	return s.roomErr(ctx, err)
}

func boolPtr(s string) *bool {
	switch s {
	case "true":
		v := true
		return &v
	case "false":
		v := false
		return &v
	}
	return nil
}

func withStatus(o huma.Operation, status int) huma.Operation {
	o.DefaultStatus = status
	return o
}
