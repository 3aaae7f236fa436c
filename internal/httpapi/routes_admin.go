package httpapi

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/media"
)

// userAdmin checks manage-users for users of targetOrg, and audits a refusal.
func (s *Server) userAdmin(ctx context.Context, c *caller, targetOrg, object string) error {
	d := access.DecideManageUser(&c.subj, targetOrg)
	if !d.Allow {
		return s.deny(ctx, c, access.ManageUsers, object, d)
	}
	return nil
}

// targetUser loads a user and checks the caller may administer them.
func (s *Server) targetUser(ctx context.Context, c *caller, id string) (*auth.User, error) {
	u, err := s.Auth.Get(ctx, id)
	if err != nil {
		if c.subj.Highest {
			return nil, s.roomErr(ctx, err)
		}
		return nil, s.deny(ctx, c, access.ManageUsers, "user/"+id, access.Decision{Reason: "no_rule"})
	}
	if err := s.userAdmin(ctx, c, u.OrgID, "user/"+id); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Server) routesUsers() {
	huma.Register(s.api, op(http.MethodGet, "/api/v1/users", "list-users", "List accounts (all for the highest organisation, own organisation for other admins)", "users"),
		func(ctx context.Context, in *struct {
			OrgID           string `query:"org_id" maxLength:"64"`
			Role            string `query:"role" enum:",admin,operator,viewer,auditor"`
			IncludeDisabled bool   `query:"include_disabled"`
		}) (*struct{ Body []auth.User }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageUsers, "users"); err != nil {
				return nil, err
			}
			org := in.OrgID
			if !c.subj.Highest {
				if org != "" && org != c.p.OrgID {
					return nil, s.deny(ctx, c, access.ManageUsers, "users?org_id="+org, access.Decision{Reason: access.ReasonOtherOrg})
				}
				org = c.p.OrgID
			}
			us, err := s.Auth.List(ctx, auth.ListFilter{OrgID: org, Role: in.Role, IncludeDisabled: in.IncludeDisabled})
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			if us == nil {
				us = []auth.User{}
			}
			return &struct{ Body []auth.User }{us}, nil
		})
	type userIn struct {
		Body struct {
			Username        string   `json:"username" minLength:"1" maxLength:"64"`
			DisplayName     string   `json:"display_name,omitempty" maxLength:"200"`
			OrgID           string   `json:"org_id" minLength:"1" maxLength:"64"`
			Roles           []string `json:"roles" minItems:"1" maxItems:"4"`
			InitialPassword string   `json:"initial_password" minLength:"1" maxLength:"256" doc:"must be changed at first login"`
		}
	}
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/users", "create-user", "Create an account", "users"), 201),
		func(ctx context.Context, in *userIn) (*struct{ Body *auth.User }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.userAdmin(ctx, c, in.Body.OrgID, "user/"+in.Body.Username); err != nil {
				return nil, err
			}
			u, err := s.Auth.CreateUser(ctx, c.authActor(), auth.NewUser{Username: in.Body.Username, DisplayName: in.Body.DisplayName,
				OrgID: in.Body.OrgID, Roles: in.Body.Roles, InitialPassword: in.Body.InitialPassword})
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body *auth.User }{u}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/users/{id}", "get-user", "Get an account", "users"),
		func(ctx context.Context, in *IDPath) (*struct{ Body *auth.User }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			u, err := s.targetUser(ctx, c, in.ID)
			if err != nil {
				return nil, err
			}
			return &struct{ Body *auth.User }{u}, nil
		})
	for _, act := range []struct{ path, id, summary string }{
		{"disable", "disable-user", "Disable an account (ends its sessions and live views)"},
		{"enable", "enable-user", "Enable an account"},
	} {
		act := act
		huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/users/{id}/"+act.path, act.id, act.summary, "users"), 204),
			func(ctx context.Context, in *IDPath) (*struct{}, error) {
				c, err := s.who(ctx, false)
				if err != nil {
					return nil, err
				}
				if _, err := s.targetUser(ctx, c, in.ID); err != nil {
					return nil, err
				}
				if act.path == "disable" {
					err = s.Auth.Disable(ctx, c.authActor(), in.ID)
				} else {
					err = s.Auth.Enable(ctx, c.authActor(), in.ID)
				}
				return nil, s.roomErrOrNil(ctx, err)
			})
	}
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/users/{id}/password", "reset-password", "Set a new initial password (the user must change it)", "users"), 204),
		func(ctx context.Context, in *struct {
			IDPath
			Body struct {
				Password string `json:"password" minLength:"1" maxLength:"256"`
			}
		}) (*struct{}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.targetUser(ctx, c, in.ID); err != nil {
				return nil, err
			}
			return nil, s.roomErrOrNil(ctx, s.Auth.SetPassword(ctx, c.authActor(), in.ID, in.Body.Password))
		})
	huma.Register(s.api, op(http.MethodPut, "/api/v1/users/{id}/roles", "set-roles", "Replace an account's roles", "users"),
		func(ctx context.Context, in *struct {
			IDPath
			Body struct {
				Roles []string `json:"roles" minItems:"1" maxItems:"4"`
			}
		}) (*struct{ Body *auth.User }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.targetUser(ctx, c, in.ID); err != nil {
				return nil, err
			}
			u, err := s.Auth.UpdateRoles(ctx, c.authActor(), in.ID, in.Body.Roles)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body *auth.User }{u}, nil
		})
	type reviewOut struct {
		Body struct {
			Inactive        []auth.User `json:"inactive" doc:"no login for inactive_days"`
			AdminPwdExpired []auth.User `json:"admin_password_expired" doc:"administrators whose password is past its maximum age (R-ACC-6)"`
		}
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/users/review", "account-review", "Accounts to review: unused ones and expired admin passwords (R-ACC-5, R-ACC-6)", "users"),
		func(ctx context.Context, in *struct {
			InactiveDays int `query:"inactive_days" minimum:"1" maximum:"3650" default:"90"`
		}) (*reviewOut, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if !c.subj.Highest {
				return nil, s.deny(ctx, c, access.ManageUsers, "users/review", access.Decision{Reason: access.ReasonNotHighest})
			}
			if err := s.site(ctx, c, access.ManageUsers, "users/review"); err != nil {
				return nil, err
			}
			out := &reviewOut{}
			if out.Body.Inactive, err = s.Auth.InactiveUsers(ctx, time.Duration(in.InactiveDays)*24*time.Hour); err != nil {
				return nil, s.roomErr(ctx, err)
			}
			if out.Body.AdminPwdExpired, err = s.Auth.AdminsPasswordExpired(ctx); err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return out, nil
		})
}

type approvalBody struct {
	OrgID        string    `json:"org_id" minLength:"1" maxLength:"64"`
	DecisionNo   string    `json:"decision_no" minLength:"1" maxLength:"100" doc:"the provincial committee's decision number"`
	DecisionDate time.Time `json:"decision_date"`
	Signer       string    `json:"signer" minLength:"1" maxLength:"200"`
	Scope        string    `json:"scope" minLength:"1" maxLength:"2000"`
	ExpiresAt    time.Time `json:"expires_at"`
	DocSHA256    string    `json:"doc_sha256" pattern:"^[0-9a-f]{64}$" doc:"SHA-256 of the scanned decision"`
}

type grantBody struct {
	OrgID      string    `json:"org_id" minLength:"1" maxLength:"64"`
	Actions    []string  `json:"actions" minItems:"1" maxItems:"5" doc:"view-live, playback, export, ptz"`
	CameraID   string    `json:"camera_id,omitempty" maxLength:"64"`
	SystemID   string    `json:"system_id,omitempty" maxLength:"64"`
	Purposes   []string  `json:"purposes,omitempty"`
	Kinds      []string  `json:"kinds,omitempty"`
	Areas      []string  `json:"areas,omitempty"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	ApprovalID string    `json:"approval_id,omitempty" maxLength:"64" doc:"required when the grant reaches beyond the organisation's functions (R-ACC-4)"`
	Note       string    `json:"note,omitempty" maxLength:"2000"`
}

func (s *Server) routesAccess() {
	huma.Register(s.api, op(http.MethodGet, "/api/v1/approvals", "list-approvals", "Committee approvals (R-ACC-4)", "access"),
		func(ctx context.Context, in *struct {
			OrgID string `query:"org_id" maxLength:"64"`
		}) (*struct{ Body []access.Approval }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ApproveGrants, "approvals"); err != nil {
				return nil, err
			}
			as, err := s.Access.ListApprovals(ctx, in.OrgID)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			if as == nil {
				as = []access.Approval{}
			}
			return &struct{ Body []access.Approval }{as}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/approvals", "create-approval", "Record a committee approval", "access"), 201),
		func(ctx context.Context, in *struct{ Body approvalBody }) (*struct{ Body access.Approval }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ApproveGrants, "approval/"+in.Body.DecisionNo); err != nil {
				return nil, err
			}
			b := in.Body
			a, err := s.Access.CreateApproval(ctx, c.accessActor(), access.Approval{OrgID: b.OrgID, DecisionNo: b.DecisionNo,
				DecisionDate: b.DecisionDate, Signer: b.Signer, Scope: b.Scope, ExpiresAt: b.ExpiresAt, DocSHA256: b.DocSHA256})
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body access.Approval }{a}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/grants", "list-grants", "Access grants", "access"),
		func(ctx context.Context, in *struct {
			OrgID          string `query:"org_id" maxLength:"64"`
			IncludeRevoked bool   `query:"include_revoked"`
		}) (*struct{ Body []access.Grant }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ApproveGrants, "grants"); err != nil {
				return nil, err
			}
			gs, err := s.Access.ListGrants(ctx, access.GrantFilter{OrgID: in.OrgID, IncludeRevoked: in.IncludeRevoked})
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			if gs == nil {
				gs = []access.Grant{}
			}
			return &struct{ Body []access.Grant }{gs}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/grants", "create-grant", "Grant an organisation access", "access"), 201),
		func(ctx context.Context, in *struct{ Body grantBody }) (*struct{ Body access.Grant }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ApproveGrants, "grant/"+in.Body.OrgID); err != nil {
				return nil, err
			}
			g, err := s.grantOf(in.Body)
			if err != nil {
				return nil, err
			}
			out, err := s.Access.CreateGrant(ctx, c.accessActor(), g)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body access.Grant }{out}, nil
		})
	huma.Register(s.api, op(http.MethodDelete, "/api/v1/grants/{id}", "revoke-grant", "Revoke a grant (ends live sessions that rest on it)", "access"),
		func(ctx context.Context, in *struct {
			IDPath
			Reason string `query:"reason" maxLength:"500"`
		}) (*struct{ Body access.Grant }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ApproveGrants, "grant/"+in.ID); err != nil {
				return nil, err
			}
			g, err := s.Access.RevokeGrant(ctx, c.accessActor(), in.ID, in.Reason)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body access.Grant }{g}, nil
		})
}

func (s *Server) grantOf(b grantBody) (access.Grant, error) {
	acts, err := access.ParseActionSet(b.Actions)
	if err != nil {
		return access.Grant{}, ErrMsg(422, "invalid_input", "actions", err.Error())
	}
	g := access.Grant{OrgID: b.OrgID, Actions: acts, CameraID: b.CameraID, SystemID: b.SystemID,
		ExpiresAt: b.ExpiresAt, Note: b.Note}
	g.Approval.ID = b.ApprovalID
	var ferr error
	if g.Purposes, ferr = maskOf("purposes", purposesList, b.Purposes); ferr != nil {
		return g, ferr
	}
	if g.Kinds, ferr = maskOf("kinds", kindsList, b.Kinds); ferr != nil {
		return g, ferr
	}
	if g.Areas, ferr = maskOf("areas", areasList, b.Areas); ferr != nil {
		return g, ferr
	}
	return g, nil
}

func (s *Server) routesAudit() {
	type auditIn struct {
		ActorID string    `query:"actor_id" maxLength:"64"`
		Org     string    `query:"org" maxLength:"64"`
		Action  string    `query:"action" maxLength:"64" doc:"prefix, e.g. camera. or auth.login"`
		Object  string    `query:"object" maxLength:"200"`
		Outcome string    `query:"outcome" enum:",ok,denied,failed"`
		From    time.Time `query:"from"`
		To      time.Time `query:"to"`
		Cursor  int64     `query:"cursor" minimum:"0"`
		Oldest  bool      `query:"oldest"`
		Limit   int       `query:"limit" minimum:"0" maximum:"1000"`
	}
	type auditOut struct {
		Body struct {
			Items []audit.Entry `json:"items"`
			Next  int64         `json:"next,omitempty" doc:"cursor of the next page; absent on the last"`
		}
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/audit", "list-audit", "The audit log (auditors and the highest organisation)", "audit"),
		func(ctx context.Context, in *auditIn) (*auditOut, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ReadAudit, "audit"); err != nil {
				return nil, err
			}
			es, next, err := audit.List(ctx, s.DB.Q(), audit.Filter{ActorID: in.ActorID, Org: in.Org, ActionPrefix: in.Action,
				Object: in.Object, Outcome: in.Outcome, From: in.From, To: in.To, Cursor: in.Cursor, Oldest: in.Oldest, Limit: in.Limit})
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			out := &auditOut{}
			out.Body.Items, out.Body.Next = es, next
			if out.Body.Items == nil {
				out.Body.Items = []audit.Entry{}
			}
			return out, nil
		})
	type verifyOut struct {
		Body struct {
			audit.Report
			Message string `json:"message"`
		}
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/audit/verify", "verify-audit", "Verify the audit chain, its signed checkpoints and the heads witnessed outside the database", "audit"),
		func(ctx context.Context, _ *struct{}) (*verifyOut, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ReadAudit, "audit/verify"); err != nil {
				return nil, err
			}
			// Held to the heads witnessed outside the database too.
			files := []string{s.Cfg.AuditWitnessPath()}
			if x := s.Cfg.Audit.ExternalWitnessFile; x != "" {
				files = append(files, x)
			}
			rep, err := audit.VerifyFiles(ctx, s.DB, map[string]ed25519.PublicKey{s.Audit.KeyID(): s.Audit.PublicKey()}, s.Cfg.Site.ID, files...)
			if err != nil {
				return nil, s.internal(ctx, "audit verify", err)
			}
			out := &verifyOut{}
			out.Body.Report = rep
			msg := rep.Explain()
			out.Body.Message = msg.VI
			if c.lang == "en" {
				out.Body.Message = msg.EN
			}
			return out, nil
		})
}

func (s *Server) routesMedia() {
	huma.Register(s.api, op(http.MethodGet, "/api/v1/streams", "list-streams", "Live state of the streams of the cameras I may watch", "live"),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []media.State }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			out := []media.State{}
			if s.Hub == nil {
				return &struct{ Body []media.State }{out}, nil
			}
			for _, st := range s.Hub.States() {
				f, err := s.Registry.CameraFacts(ctx, st.CameraID)
				if err != nil {
					continue
				}
				cam := CameraOf(f)
				if access.Decide(&c.subj, access.ViewLive, &cam, time.Now()).Allow {
					out = append(out, st)
				}
			}
			return &struct{ Body []media.State }{out}, nil
		})
}
