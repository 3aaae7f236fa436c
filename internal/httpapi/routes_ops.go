package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/ops"
)

// highestAdmin: reviews, consents and approvals are the department's.
func (s *Server) highestAdmin(ctx context.Context, c *caller, a access.Action, object string) error {
	if !c.subj.Highest {
		return s.deny(ctx, c, a, object, access.Decision{Reason: access.ReasonNotHighest})
	}
	return s.site(ctx, c, a, object)
}

type fileOut struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

func (s *Server) routesOps() {
	if s.Ops == nil {
		return
	}
	s.routesReviews()
	s.routesInstallations()
	s.routesMaintenance()

	huma.Register(s.api, op(http.MethodGet, "/api/v1/reports/compliance", "compliance-report",
		"Yearly compliance report and next year's cost estimate (R-OPS-4) as JSON, CSV or XLSX", "reports"),
		func(ctx context.Context, in *struct {
			Year   int    `query:"year" minimum:"2000" maximum:"2200" doc:"default: the current year"`
			Format string `query:"format" enum:",json,csv,xlsx" default:"json"`
		}) (*fileOut, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if access.DecideSite(&c.subj, access.ReadAudit).Allow == false {
				if err := s.highestAdmin(ctx, c, access.ManageRegistry, "reports/compliance"); err != nil {
					return nil, err
				}
			}
			loc := s.Cfg.Location()
			year := in.Year
			if year == 0 {
				year = time.Now().In(loc).Year()
			}
			r, err := s.Ops.BuildReport(ctx, year, loc)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			var b bytes.Buffer
			out := &fileOut{}
			name := fmt.Sprintf("bao-cao-camera-%d", year)
			switch in.Format {
			case "csv":
				err = ops.WriteCSV(&b, r.Rows())
				out.ContentType, out.ContentDisposition = "text/csv; charset=utf-8", `attachment; filename="`+name+`.csv"`
			case "xlsx":
				err = ops.WriteXLSX(&b, fmt.Sprintf("Báo cáo %d", year), r.Rows())
				out.ContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
				out.ContentDisposition = `attachment; filename="` + name + `.xlsx"`
			default:
				err = jsonTo(&b, r)
				out.ContentType = "application/json; charset=utf-8"
			}
			if err != nil {
				return nil, s.internal(ctx, "report", err)
			}
			out.Body = b.Bytes()
			return out, nil
		})
}

func jsonTo(w *bytes.Buffer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func (s *Server) opsActor(c *caller) ops.Actor {
	return ops.Actor{ID: c.p.UserID, Name: c.p.Username, OrgID: c.p.OrgID, Remote: c.remote}
}

func (s *Server) routesReviews() {
	huma.Register(s.api, op(http.MethodGet, "/api/v1/reviews", "list-reviews", "Account review campaigns (R-ACC-5)", "reviews"),
		func(ctx context.Context, in *struct{}) (*struct{ Body []ops.Campaign }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.highestAdmin(ctx, c, access.ManageUsers, "reviews"); err != nil {
				return nil, err
			}
			cs, err := s.Ops.Campaigns(ctx)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body []ops.Campaign }{cs}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/reviews", "open-review",
		"Open a review campaign: every enabled account, unused ones and expired admin passwords flagged (R-ACC-5, R-ACC-6)", "reviews"), 201),
		func(ctx context.Context, in *struct {
			Body struct {
				Title        string `json:"title" minLength:"1" maxLength:"200"`
				InactiveDays int    `json:"inactive_days,omitempty" minimum:"1" maximum:"3650" doc:"default 90"`
			}
		}) (*struct{ Body ops.Campaign }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.highestAdmin(ctx, c, access.ManageUsers, "reviews"); err != nil {
				return nil, err
			}
			days := in.Body.InactiveDays
			if days == 0 {
				days = s.Cfg.Ops.InactiveDays
			}
			cp, err := s.Ops.OpenCampaign(ctx, s.opsActor(c), in.Body.Title, days)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.Campaign }{cp}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/reviews/{id}", "get-review", "A review campaign with its accounts", "reviews"),
		func(ctx context.Context, in *IDPath) (*struct{ Body ops.Campaign }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.highestAdmin(ctx, c, access.ManageUsers, "review/"+in.ID); err != nil {
				return nil, err
			}
			cp, err := s.Ops.Campaign(ctx, in.ID)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.Campaign }{cp}, nil
		})
	huma.Register(s.api, op(http.MethodPost, "/api/v1/reviews/{id}/accounts/{user_id}", "decide-review",
		"Confirm or revoke one account (revoking disables it at once)", "reviews"),
		func(ctx context.Context, in *struct {
			IDPath
			UserID string `path:"user_id" maxLength:"64"`
			Body   struct {
				Decision string `json:"decision" enum:"confirmed,revoked"`
				Note     string `json:"note,omitempty" maxLength:"2000"`
			}
		}) (*struct{ Body ops.ReviewItem }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.highestAdmin(ctx, c, access.ManageUsers, "review/"+in.ID); err != nil {
				return nil, err
			}
			it, err := s.Ops.Decide(ctx, s.opsActor(c), in.ID, in.UserID, in.Body.Decision, in.Body.Note)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.ReviewItem }{it}, nil
		})
	huma.Register(s.api, op(http.MethodPost, "/api/v1/reviews/{id}/close", "close-review",
		"Close a campaign once every account is decided; the outcome is recorded and audited", "reviews"),
		func(ctx context.Context, in *IDPath) (*struct{ Body ops.Campaign }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.highestAdmin(ctx, c, access.ManageUsers, "review/"+in.ID); err != nil {
				return nil, err
			}
			cp, err := s.Ops.CloseCampaign(ctx, s.opsActor(c), in.ID)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.Campaign }{cp}, nil
		})
}

func (s *Server) routesInstallations() {
	huma.Register(s.api, op(http.MethodGet, "/api/v1/poles", "list-poles", "Shared poles and cabinets (R-INS-2)", "installations"),
		func(ctx context.Context, in *struct{}) (*struct{ Body []ops.Pole }, error) {
			if _, err := s.who(ctx, false); err != nil {
				return nil, err
			}
			ps, err := s.Ops.Poles(ctx)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body []ops.Pole }{ps}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/poles", "create-pole", "Register a pole or cabinet", "installations"), 201),
		func(ctx context.Context, in *struct {
			Body struct {
				ID         string  `json:"id" minLength:"1" maxLength:"64"`
				Kind       string  `json:"kind" enum:"pole,cabinet"`
				Name       string  `json:"name" minLength:"1" maxLength:"200"`
				OwnerOrgID string  `json:"owner_org_id" minLength:"1" maxLength:"64"`
				Lat        float64 `json:"lat"`
				Lon        float64 `json:"lon"`
				Address    string  `json:"address,omitempty" maxLength:"500"`
			}
		}) (*struct{ Body ops.Pole }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "pole/"+in.Body.ID); err != nil {
				return nil, err
			}
			b := in.Body
			p, err := s.Ops.CreatePole(ctx, s.opsActor(c), ops.Pole{ID: b.ID, Kind: b.Kind, Name: b.Name, OwnerOrgID: b.OwnerOrgID, Lat: b.Lat, Lon: b.Lon, Address: b.Address})
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.Pole }{p}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/installations", "list-installations",
		"Installation requests (all for the highest organisation; a system's for its organisations)", "installations"),
		func(ctx context.Context, in *struct {
			SystemID string `query:"system_id" maxLength:"64"`
		}) (*struct{ Body []ops.Installation }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if in.SystemID != "" && !c.subj.Highest {
				if err := s.manageSystem(ctx, c, in.SystemID, "installations?system_id="+in.SystemID); err != nil {
					return nil, err
				}
			} else if err := s.site(ctx, c, access.ManageRegistry, "installations"); err != nil {
				return nil, err
			}
			is, err := s.Ops.Installations(ctx, in.SystemID)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body []ops.Installation }{is}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/installations", "create-installation",
		"Request an installation: place, pole, technical plan (R-INS-1)", "installations"), 201),
		func(ctx context.Context, in *struct {
			Body struct {
				SystemID      string  `json:"system_id" minLength:"1" maxLength:"64"`
				PoleID        string  `json:"pole_id,omitempty" maxLength:"64"`
				Title         string  `json:"title" minLength:"1" maxLength:"300"`
				Lat           float64 `json:"lat"`
				Lon           float64 `json:"lon"`
				Address       string  `json:"address,omitempty" maxLength:"500"`
				TechnicalPlan string  `json:"technical_plan" minLength:"1" maxLength:"20000"`
				StateArea     bool    `json:"state_area,omitempty"`
				PublicPlace   *bool   `json:"public_place,omitempty" doc:"default true"`
			}
		}) (*struct{ Body ops.Installation }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			b := in.Body
			if err := s.manageSystem(ctx, c, b.SystemID, "installation"); err != nil {
				return nil, err
			}
			pub := b.PublicPlace == nil || *b.PublicPlace
			i, err := s.Ops.CreateInstallation(ctx, s.opsActor(c), ops.InstallationInput{SystemID: b.SystemID, PoleID: b.PoleID, Title: b.Title,
				Address: b.Address, TechnicalPlan: b.TechnicalPlan, Lat: b.Lat, Lon: b.Lon, StateArea: b.StateArea, PublicPlace: pub})
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.Installation }{i}, nil
		})

	// instOf loads a request and checks the caller is the highest
	// organisation or one of the system's.
	instOf := func(ctx context.Context, c *caller, id string) (ops.Installation, error) {
		i, err := s.Ops.Installation(ctx, id)
		if err != nil {
			if !c.subj.Highest {
				return i, s.deny(ctx, c, access.ManageRegistry, "installation/"+id, access.Decision{Reason: access.ReasonNoRule})
			}
			return i, s.opsErr(ctx, err)
		}
		return i, s.manageSystem(ctx, c, i.SystemID, "installation/"+id)
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/installations/{id}", "get-installation", "An installation request", "installations"),
		func(ctx context.Context, in *IDPath) (*struct{ Body ops.Installation }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			i, err := instOf(ctx, c, in.ID)
			if err != nil {
				return nil, err
			}
			return &struct{ Body ops.Installation }{i}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/installations/{id}/consents", "add-consent",
		"Record a written consent: department or area manager; number, date, signer, SHA-256 of the scan (R-INS-1)", "installations"), 201),
		func(ctx context.Context, in *struct {
			IDPath
			Body struct {
				Kind      string `json:"kind" enum:"department,area_manager"`
				DocNo     string `json:"doc_no" minLength:"1" maxLength:"100"`
				DocDate   string `json:"doc_date" minLength:"10" maxLength:"10" doc:"YYYY-MM-DD"`
				Signer    string `json:"signer" minLength:"1" maxLength:"200"`
				DocSHA256 string `json:"doc_sha256" doc:"SHA-256 of the scanned document, 64 hex characters"`
			}
		}) (*struct{ Body ops.Installation }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := instOf(ctx, c, in.ID); err != nil {
				return nil, err
			}
			b := in.Body
			i, err := s.Ops.AddConsent(ctx, s.opsActor(c), in.ID, ops.InstConsent{Kind: b.Kind, DocNo: b.DocNo, DocDate: b.DocDate, Signer: b.Signer, DocSHA256: b.DocSHA256})
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.Installation }{i}, nil
		})
	huma.Register(s.api, op(http.MethodPost, "/api/v1/installations/{id}/{action}", "installation-transition",
		"approve (the department, every consent on record), reject, or mark installed", "installations"),
		func(ctx context.Context, in *struct {
			IDPath
			Action string `path:"action" enum:"approve,reject,install"`
			Body   struct {
				Note string `json:"note,omitempty" maxLength:"2000"`
			}
		}) (*struct{ Body ops.Installation }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if in.Action == "install" {
				if _, err := instOf(ctx, c, in.ID); err != nil {
					return nil, err
				}
			} else if err := s.highestAdmin(ctx, c, access.ManageRegistry, "installation/"+in.ID); err != nil {
				return nil, err
			}
			i, err := s.Ops.TransitionInstallation(ctx, s.opsActor(c), in.ID, in.Action, in.Body.Note)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.Installation }{i}, nil
		})
	huma.Register(s.api, op(http.MethodPost, "/api/v1/installations/{id}/probe", "probe-installation",
		"Run the compatibility check against a camera and store it with the request (R-INS-3)", "installations"),
		func(ctx context.Context, in *struct {
			IDPath
			Body struct {
				URL    string `json:"url" minLength:"1" maxLength:"2048" doc:"rtsp:// URL, credentials included if any (never stored)"`
				SubURL string `json:"sub_url,omitempty" maxLength:"2048"`
			}
		}) (*struct{ Body ops.Installation }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := instOf(ctx, c, in.ID); err != nil {
				return nil, err
			}
			if _, _, _, _, err := ops.ParseTarget(in.Body.URL); err != nil {
				return nil, ErrMsg(http.StatusUnprocessableEntity, "invalid_input", "url", err.Error())
			}
			pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			rep, err := ops.Probe(pctx, in.Body.URL, ops.ProbeOptions{SubURL: in.Body.SubURL})
			if err != nil {
				return nil, ErrMsg(http.StatusUnprocessableEntity, "invalid_input", "url", err.Error())
			}
			i, err := s.Ops.StoreProbe(ctx, s.opsActor(c), in.ID, *rep)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.Installation }{i}, nil
		})
}

func (s *Server) routesMaintenance() {
	sysScope := func(ctx context.Context, c *caller, systemID, object string) error {
		if systemID == "" {
			return s.site(ctx, c, access.ManageRegistry, object)
		}
		return s.manageSystem(ctx, c, systemID, object)
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/assets", "list-assets", "Assets (R-OPS-3)", "maintenance"),
		func(ctx context.Context, in *struct {
			SystemID string `query:"system_id" maxLength:"64"`
		}) (*struct{ Body []ops.Asset }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := sysScope(ctx, c, in.SystemID, "assets"); err != nil {
				return nil, err
			}
			as, err := s.Ops.Assets(ctx, in.SystemID)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body []ops.Asset }{as}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/assets", "create-asset", "Record an asset", "maintenance"), 201),
		func(ctx context.Context, in *struct {
			Body struct {
				SystemID     string    `json:"system_id" minLength:"1" maxLength:"64"`
				CameraID     string    `json:"camera_id,omitempty" maxLength:"64"`
				PoleID       string    `json:"pole_id,omitempty" maxLength:"64"`
				Model        string    `json:"model" minLength:"1" maxLength:"200"`
				Serial       string    `json:"serial,omitempty" maxLength:"200"`
				Firmware     string    `json:"firmware,omitempty" maxLength:"200"`
				QCVNCert     string    `json:"qcvn_cert,omitempty" maxLength:"200" doc:"QCVN 135:2024 certificate number"`
				PurchaseCost int64     `json:"purchase_cost,omitempty" minimum:"0" doc:"VND"`
				YearlyOpCost int64     `json:"yearly_op_cost,omitempty" minimum:"0" doc:"VND per year"`
				InstalledAt  time.Time `json:"installed_at,omitzero"`
				WarrantyEnd  time.Time `json:"warranty_end,omitzero"`
				ReplaceDue   time.Time `json:"replace_due,omitzero"`
			}
		}) (*struct{ Body ops.Asset }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			b := in.Body
			if err := s.manageSystem(ctx, c, b.SystemID, "asset"); err != nil {
				return nil, err
			}
			a, err := s.Ops.CreateAsset(ctx, s.opsActor(c), ops.Asset{SystemID: b.SystemID, CameraID: b.CameraID, PoleID: b.PoleID,
				Model: b.Model, Serial: b.Serial, Firmware: b.Firmware, QCVNCert: b.QCVNCert, PurchaseCost: b.PurchaseCost,
				YearlyOpCost: b.YearlyOpCost, InstalledAt: b.InstalledAt, WarrantyEnd: b.WarrantyEnd, ReplaceDue: b.ReplaceDue})
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.Asset }{a}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/maintenance/plans", "list-plans", "Maintenance plans; overdue=true for the late ones", "maintenance"),
		func(ctx context.Context, in *struct {
			Overdue bool `query:"overdue"`
		}) (*struct{ Body []ops.MaintenancePlan }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "maintenance/plans"); err != nil {
				return nil, err
			}
			ps, err := s.Ops.Plans(ctx, in.Overdue)
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body []ops.MaintenancePlan }{ps}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/maintenance/plans", "create-plan", "Plan periodic maintenance", "maintenance"), 201),
		func(ctx context.Context, in *struct {
			Body struct {
				SystemID     string    `json:"system_id" minLength:"1" maxLength:"64"`
				AssetID      string    `json:"asset_id,omitempty" maxLength:"64"`
				Title        string    `json:"title" minLength:"1" maxLength:"300"`
				EveryDays    int       `json:"every_days" minimum:"1" maximum:"3650"`
				NextDue      time.Time `json:"next_due"`
				CostEstimate int64     `json:"cost_estimate,omitempty" minimum:"0"`
			}
		}) (*struct{ Body ops.MaintenancePlan }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			b := in.Body
			if err := s.manageSystem(ctx, c, b.SystemID, "maintenance/plan"); err != nil {
				return nil, err
			}
			p, err := s.Ops.CreatePlan(ctx, s.opsActor(c), ops.MaintenancePlan{SystemID: b.SystemID, AssetID: b.AssetID, Title: b.Title,
				EveryDays: b.EveryDays, NextDue: b.NextDue, CostEstimate: b.CostEstimate})
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.MaintenancePlan }{p}, nil
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/maintenance/records", "record-maintenance",
		"Record maintenance work; with a plan, its next due date moves on", "maintenance"), 201),
		func(ctx context.Context, in *struct {
			Body struct {
				PlanID   string    `json:"plan_id,omitempty" maxLength:"64"`
				SystemID string    `json:"system_id" minLength:"1" maxLength:"64"`
				AssetID  string    `json:"asset_id,omitempty" maxLength:"64"`
				DoneAt   time.Time `json:"done_at"`
				Cost     int64     `json:"cost,omitempty" minimum:"0"`
				Notes    string    `json:"notes,omitempty" maxLength:"5000"`
			}
		}) (*struct{ Body ops.MaintenanceRecord }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			b := in.Body
			if err := s.manageSystem(ctx, c, b.SystemID, "maintenance/record"); err != nil {
				return nil, err
			}
			r, err := s.Ops.RecordWork(ctx, s.opsActor(c), ops.MaintenanceRecord{PlanID: b.PlanID, SystemID: b.SystemID, AssetID: b.AssetID,
				DoneAt: b.DoneAt, Cost: b.Cost, Notes: b.Notes})
			if err != nil {
				return nil, s.opsErr(ctx, err)
			}
			return &struct{ Body ops.MaintenanceRecord }{r}, nil
		})
}
