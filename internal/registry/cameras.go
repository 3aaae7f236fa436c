package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// cameraCols never includes the sealed credentials: reads for the API
// cannot return what they never load.
const cameraCols = `c.id, c.system_id, c.name, c.kinds, c.purposes, c.area, c.lat, c.lon, c.admin_unit, c.address,
	c.classified, c.public, c.main_url, c.sub_url, c.main_cred_sealed <> '', c.sub_cred_sealed <> '', c.transport,
	c.on_demand, c.push, c.consent_doc, c.consent_date, c.consent_scope, c.installed_at, c.changed_at,
	c.first_connected_at, c.version, c.created_at, c.updated_at`

func scanCamera(sc interface{ Scan(...any) error }) (Camera, error) {
	var c Camera
	var kinds, purposes, installed, changed, first, created, updated int64
	err := sc.Scan(&c.ID, &c.SystemID, &c.Name, &kinds, &purposes, &c.Area, &c.Lat, &c.Lon, &c.AdminUnit, &c.Address,
		&c.Classified, &c.Public, &c.MainURL, &c.SubURL, &c.HasMainCredentials, &c.HasSubCredentials, &c.Transport,
		&c.OnDemand, &c.Push, &c.Consent.Doc, &c.Consent.Date, &c.Consent.Scope, &installed, &changed,
		&first, &c.Version, &created, &updated)
	c.Kinds, c.Purposes = Names(Kinds, kinds), Names(Purposes, purposes)
	c.InstalledAt, c.ChangedAt, c.FirstConnectedAt = store.Time(installed), store.Time(changed), store.Time(first)
	c.CreatedAt, c.UpdatedAt = store.Time(created), store.Time(updated)
	return c, err
}

// camRow is a validated CameraInput in storage form.
type camRow struct {
	in                       CameraInput
	kinds, purposes, areaBit Mask
	mainURL, subURL          string
	mainCred, subCred        *credentials
	installedMS              int64
}

// validateCamera applies every rule that needs no database.
func validateCamera(in CameraInput) (camRow, ValidationErrors) {
	var es ValidationErrors
	r := camRow{in: in}
	checkID(&es, "id", in.ID, false)
	checkID(&es, "system_id", in.SystemID, true)
	checkText(&es, "name", in.Name, true, MaxNameLen)
	r.in.Name = strings.TrimSpace(in.Name)
	r.kinds = maskOf(&es, "kinds", Kinds, in.Kinds, true)
	r.purposes = maskOf(&es, "purposes", Purposes, in.Purposes, true)
	r.in.Area = strings.TrimSpace(in.Area)
	if r.in.Area == "" {
		es.add("area", "required", "is required (one of: %s)", strings.Join(Areas, ", "))
	} else if r.areaBit = AreaBit(r.in.Area); r.areaBit == 0 {
		es.add("area", "unknown_value", "unknown value %q (allowed: %s)", clip(r.in.Area, 40), strings.Join(Areas, ", "))
	}
	checkCoordinates(&es, in.Lat, in.Lon)
	checkText(&es, "admin_unit", in.AdminUnit, false, MaxAdminUnitLen)
	checkText(&es, "address", in.Address, false, MaxAddressLen)
	r.in.AdminUnit, r.in.Address = strings.TrimSpace(in.AdminUnit), strings.TrimSpace(in.Address)

	r.mainURL, r.mainCred = splitStreamURL(&es, "main_url", in.MainURL)
	r.subURL, r.subCred = splitStreamURL(&es, "sub_url", in.SubURL)
	if in.MainURL == "" && !in.Push {
		es.add("main_url", "required", "is required unless the camera pushes its stream")
	}
	if in.MainURL == "" && in.SubURL != "" {
		es.add("sub_url", "main_url_missing", "a sub stream needs a main stream")
	}
	checkText(&es, "username", in.Username, false, MaxUserLen)
	checkText(&es, "password", in.Password, false, MaxPasswordLen)
	if in.Username != "" || in.Password != "" {
		sep := &credentials{User: in.Username, Pass: in.Password, Set: in.Password != ""}
		switch {
		case in.ClearCredentials:
			es.add("clear_credentials", "ambiguous_credentials", "cannot clear and set credentials at once")
		case r.mainCred != nil || r.subCred != nil:
			es.add("username", "ambiguous_credentials", "give credentials either in the URL or in username/password, not both")
		case in.MainURL == "":
			es.add("username", "no_url", "credentials given without a stream URL")
		default:
			r.mainCred = sep
			if r.subURL != "" {
				c := *sep
				r.subCred = &c
			}
		}
	}

	// Cameras have one account for both streams: a sub URL on the main
	// URL's host without its own user info uses the main credentials.
	if r.subCred == nil && r.mainCred != nil && r.subURL != "" && sameHost(r.mainURL, r.subURL) {
		c := *r.mainCred
		r.subCred = &c
	}

	r.in.Transport = strings.TrimSpace(in.Transport)
	if r.in.Transport == "" {
		r.in.Transport = "tcp"
	} else if indexOf(Transports, r.in.Transport) < 0 {
		es.add("transport", "unknown_value", "unknown value %q (allowed: %s)", clip(r.in.Transport, 40), strings.Join(Transports, ", "))
	}

	checkText(&es, "consent.doc", in.Consent.Doc, false, MaxNameLen)
	checkText(&es, "consent.scope", in.Consent.Scope, false, MaxConsentLen)
	r.in.Consent.Doc, r.in.Consent.Scope = strings.TrimSpace(in.Consent.Doc), strings.TrimSpace(in.Consent.Scope)
	r.in.Consent.Date = strings.TrimSpace(in.Consent.Date)
	if r.in.Consent.Date != "" {
		if _, ok := parseDate(r.in.Consent.Date); !ok {
			es.add("consent.date", "invalid_date", "must be a date as YYYY-MM-DD")
		}
	}
	if (r.in.Consent.Doc == "") != (r.in.Consent.Date == "") {
		es.add("consent.doc", "incomplete_consent", "a consent needs both its document number and its date")
	}

	// R-PUB-2: only road/intersection/crowded-place cameras, never a
	// state-secret one (R-CAM-4), may be shared with the citizen app.
	if in.Public {
		switch {
		case in.Classified:
			es.add("public", "public_not_allowed", "a classified camera can never be public")
		case r.areaBit != 0 && r.areaBit&PublicAreas == 0:
			es.add("public", "public_not_allowed", "only cameras at roads, intersections or crowded public places may be public (area is %s)", r.in.Area)
		}
	}
	if !in.InstalledAt.IsZero() {
		if y := in.InstalledAt.Year(); y < 1990 || y > 9999 {
			es.add("installed_at", "out_of_range", "is not a plausible installation date")
		}
		r.installedMS = store.MS(in.InstalledAt)
	}
	return r, es
}

func sameHost(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	return errA == nil && errB == nil && ua.Hostname() == ub.Hostname()
}

// systemFacts is what camera rules need of the camera's system.
type systemFacts struct {
	exists       bool
	privateOwner bool
	site         string // the site that runs the system ("" = this one)
}

func lookupSystem(ctx context.Context, q store.Q, id string) (systemFacts, error) {
	var kind, site string
	err := q.QueryRow(ctx, `SELECT o.kind, s.site_id FROM systems s JOIN organisations o ON o.id = s.managing_org_id WHERE s.id = ?`, id).Scan(&kind, &site)
	if errors.Is(err, sql.ErrNoRows) {
		return systemFacts{}, nil
	}
	if err != nil {
		return systemFacts{}, err
	}
	return systemFacts{exists: true, privateOwner: kind == OrgPrivateOwner, site: site}, nil
}

// checkCameraRefs applies the rules that need the camera's system. here is
// this site's id: a system run by another site (tier 1 holds lower sites'
// systems) takes no camera registered here; its cameras come from that
// site through the federation.
func checkCameraRefs(es *ValidationErrors, r *camRow, sf systemFacts, here string) {
	if !sf.exists {
		es.add("system_id", "not_found", "no system %s", clip(r.in.SystemID, 64))
		return
	}
	if here != "" && sf.site != "" && sf.site != here {
		es.add("system_id", "other_site", "system %s is run by site %s: its cameras are registered there", clip(r.in.SystemID, 64), clip(sf.site, 64))
	}
	// R-CAM-2: a private owner's camera is shared only with the owner's
	// consent on record.
	if r.in.Public && sf.privateOwner && !r.in.Consent.OnRecord() {
		es.add("public", "consent_required", "a private owner's camera may be public only with the owner's consent on record (consent doc and date)")
	}
}

func (s *Service) sealCred(c *credentials) (string, error) {
	if c.empty() {
		return "", nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sealed, err := s.sealer.Seal(b)
	if err != nil {
		return "", fmt.Errorf("registry: seal credentials: %w", err)
	}
	return sealed, nil
}

func (s *Service) openCred(sealed string) (*credentials, error) {
	if sealed == "" {
		return nil, nil
	}
	b, err := s.sealer.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("registry: open credentials: %w", err)
	}
	var c credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("registry: credentials: %w", err)
	}
	return &c, nil
}

// cameraFields names the fields set on create, for the audit entry.
func cameraFields(r *camRow) []string {
	f := []string{"id", "system_id", "name", "kinds", "purposes", "area", "lat", "lon"}
	add := func(name string, set bool) {
		if set {
			f = append(f, name)
		}
	}
	add("admin_unit", r.in.AdminUnit != "")
	add("address", r.in.Address != "")
	add("classified", r.in.Classified)
	add("public", r.in.Public)
	add("main_url", r.mainURL != "")
	add("main_credentials", !r.mainCred.empty())
	add("sub_url", r.subURL != "")
	add("sub_credentials", !r.subCred.empty())
	add("transport", true)
	add("on_demand", r.in.OnDemand)
	add("push", r.in.Push)
	add("consent", r.in.Consent != Consent{})
	add("installed_at", r.installedMS != 0)
	return f
}

// insertCamera writes a validated camera and its audit entry in tx.
func (s *Service) insertCamera(ctx context.Context, tx store.Q, a Actor, r *camRow, now int64, details map[string]any) error {
	mainSealed, err := s.sealCred(r.mainCred)
	if err != nil {
		return err
	}
	subSealed, err := s.sealCred(r.subCred)
	if err != nil {
		return err
	}
	in := &r.in
	_, err = tx.Exec(ctx, `INSERT INTO cameras (id, system_id, name, kinds, purposes, area, area_bit, lat, lon, admin_unit, address,
		classified, public, main_url, main_cred_sealed, sub_url, sub_cred_sealed, transport, on_demand, push,
		consent_doc, consent_date, consent_scope, installed_at, changed_at, first_connected_at, search_text, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 1, ?, ?)`,
		in.ID, in.SystemID, in.Name, r.kinds, r.purposes, in.Area, r.areaBit, in.Lat, in.Lon, in.AdminUnit, in.Address,
		in.Classified, in.Public, r.mainURL, mainSealed, r.subURL, subSealed, in.Transport, in.OnDemand, in.Push,
		in.Consent.Doc, in.Consent.Date, in.Consent.Scope, r.installedMS, now, cameraSearch(in), now, now)
	if store.IsUniqueViolation(err) {
		return conflict("id", "duplicate", "a camera with this id already exists")
	}
	if err != nil {
		return err
	}
	if details == nil {
		details = map[string]any{}
	}
	details["fields"] = cameraFields(r)
	return s.record(ctx, tx, a, "camera.create", "camera/"+in.ID, details)
}

func cameraSearch(in *CameraInput) string {
	return Fold(in.ID + " " + in.Name + " " + in.Address + " " + in.AdminUnit)
}

// CreateCamera validates and adds a camera; an empty ID is generated.
// ChangedAt is set to now: a new camera starts its connection deadline.
func (s *Service) CreateCamera(ctx context.Context, a Actor, in CameraInput) (Camera, error) {
	r, es := validateCamera(in)
	if err := es.err(); err != nil {
		return Camera{}, err
	}
	if r.in.ID == "" {
		r.in.ID = newID("cam")
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		sf, err := lookupSystem(ctx, tx, r.in.SystemID)
		if err != nil {
			return err
		}
		checkCameraRefs(&es, &r, sf, s.siteID)
		if err := es.err(); err != nil {
			return err
		}
		return s.insertCamera(ctx, tx, a, &r, s.nowMS(), nil)
	})
	if err != nil {
		return Camera{}, err
	}
	return s.GetCamera(ctx, r.in.ID)
}

// GetCamera reads one camera (without credentials).
func (s *Service) GetCamera(ctx context.Context, id string) (Camera, error) {
	return getCamera(ctx, s.db.Q(), id)
}

func getCamera(ctx context.Context, q store.Q, id string) (Camera, error) {
	c, err := scanCamera(q.QueryRow(ctx, `SELECT `+cameraCols+` FROM cameras c WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// UpdateCamera replaces a camera's fields if it is still at version. A
// change of location, stream URLs, credentials, transport or push mode sets
// ChangedAt (the camera must be reconnected to tier 1 in 5 days, R-FED-2).
func (s *Service) UpdateCamera(ctx context.Context, a Actor, id string, version int64, in CameraInput) (Camera, error) {
	if in.ID != "" && in.ID != id {
		return Camera{}, ValidationErrors{{Field: "id", Code: "immutable", Message: "the id cannot be changed"}}
	}
	in.ID = id
	r, es := validateCamera(in)
	if err := es.err(); err != nil {
		return Camera{}, err
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		old, err := getCamera(ctx, tx, id)
		if err != nil {
			return err
		}
		if old.Version != version {
			return conflict("version", "version_mismatch", "the camera was changed by someone else (now version %d)", old.Version)
		}
		if err := refuseFederated(ctx, tx, id); err != nil {
			return err
		}
		sf, err := lookupSystem(ctx, tx, r.in.SystemID)
		if err != nil {
			return err
		}
		checkCameraRefs(&es, &r, sf, s.siteID)
		if err := es.err(); err != nil {
			return err
		}
		var oldMain, oldSub string
		if err := tx.QueryRow(ctx, `SELECT main_cred_sealed, sub_cred_sealed FROM cameras WHERE id = ?`, id).Scan(&oldMain, &oldSub); err != nil {
			return err
		}
		mainSealed, mainChanged, err := s.nextCred(oldMain, r.mainCred, r.mainURL, in.ClearCredentials)
		if err != nil {
			return err
		}
		subSealed, subChanged, err := s.nextCred(oldSub, r.subCred, r.subURL, in.ClearCredentials)
		if err != nil {
			return err
		}
		n := &r.in
		var changed []string
		diff := func(name string, eq bool) {
			if !eq {
				changed = append(changed, name)
			}
		}
		diff("system_id", old.SystemID == n.SystemID)
		diff("name", old.Name == n.Name)
		diff("kinds", sameStrings(old.Kinds, Names(Kinds, r.kinds)))
		diff("purposes", sameStrings(old.Purposes, Names(Purposes, r.purposes)))
		diff("area", old.Area == n.Area)
		diff("lat", old.Lat == n.Lat)
		diff("lon", old.Lon == n.Lon)
		diff("admin_unit", old.AdminUnit == n.AdminUnit)
		diff("address", old.Address == n.Address)
		diff("classified", old.Classified == n.Classified)
		diff("public", old.Public == n.Public)
		diff("main_url", old.MainURL == r.mainURL)
		diff("main_credentials", !mainChanged)
		diff("sub_url", old.SubURL == r.subURL)
		diff("sub_credentials", !subChanged)
		diff("transport", old.Transport == n.Transport)
		diff("on_demand", old.OnDemand == n.OnDemand)
		diff("push", old.Push == n.Push)
		diff("consent", old.Consent == n.Consent)
		diff("installed_at", store.MS(old.InstalledAt) == r.installedMS)
		now := s.nowMS()
		changedAt := store.MS(old.ChangedAt)
		for _, f := range changed {
			switch f {
			case "lat", "lon", "main_url", "main_credentials", "sub_url", "sub_credentials", "transport", "push":
				changedAt = now
			}
		}
		res, err := tx.Exec(ctx, `UPDATE cameras SET system_id = ?, name = ?, kinds = ?, purposes = ?, area = ?, area_bit = ?, lat = ?, lon = ?,
			admin_unit = ?, address = ?, classified = ?, public = ?, main_url = ?, main_cred_sealed = ?, sub_url = ?, sub_cred_sealed = ?,
			transport = ?, on_demand = ?, push = ?, consent_doc = ?, consent_date = ?, consent_scope = ?, installed_at = ?, changed_at = ?,
			search_text = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?`,
			n.SystemID, n.Name, r.kinds, r.purposes, n.Area, r.areaBit, n.Lat, n.Lon,
			n.AdminUnit, n.Address, n.Classified, n.Public, r.mainURL, mainSealed, r.subURL, subSealed,
			n.Transport, n.OnDemand, n.Push, n.Consent.Doc, n.Consent.Date, n.Consent.Scope, r.installedMS, changedAt,
			cameraSearch(n), now, id, version)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return conflict("version", "version_mismatch", "the camera was changed by someone else")
		}
		return s.record(ctx, tx, a, "camera.update", "camera/"+id, map[string]any{"fields": nonNil(changed)})
	})
	if err != nil {
		return Camera{}, err
	}
	return s.GetCamera(ctx, id)
}

// nextCred decides the sealed credentials of one stream on update: new ones
// if given, none if cleared or if the URL is gone, else the stored ones.
func (s *Service) nextCred(oldSealed string, c *credentials, url string, clear bool) (sealed string, changed bool, err error) {
	switch {
	case url == "" || clear:
		return "", oldSealed != "", nil
	case c == nil:
		return oldSealed, false, nil
	}
	sealed, err = s.sealCred(c)
	if err != nil {
		return "", false, err
	}
	old, oerr := s.openCred(oldSealed)
	same := oerr == nil && ((old == nil && c.empty()) || (old != nil && old.User == c.User && old.Pass == c.Pass))
	return sealed, !same, nil
}

// DeleteCamera removes a camera.
func (s *Service) DeleteCamera(ctx context.Context, a Actor, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := refuseFederated(ctx, tx, id); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM cameras WHERE id = ?`, id)
		if store.IsForeignKeyViolation(err) {
			return conflict("id", "in_use", "the camera still has records that refer to it")
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, a, "camera.delete", "camera/"+id, nil)
	})
}

// SetFirstConnected records when the camera first reached tier 1 (R-FED-2).
// Only the first call counts; it reports whether this call set it. It does
// not bump the version: it is an observation, not an edit, and must not make
// an operator's concurrent edit fail.
func (s *Service) SetFirstConnected(ctx context.Context, id string, t time.Time) (bool, error) {
	if t.IsZero() {
		return false, ValidationErrors{{Field: "first_connected_at", Code: "required", Message: "is required"}}
	}
	set := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE cameras SET first_connected_at = ? WHERE id = ? AND first_connected_at = 0`, store.MS(t), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM cameras WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			} else if err != nil {
				return err
			}
			return nil
		}
		set = true
		return s.record(ctx, tx, Actor{}, "camera.first_connected", "camera/"+id,
			map[string]any{"fields": []string{"first_connected_at"}})
	})
	return set, err
}

// CameraFacts is what the access decision needs to know of a camera.
type CameraFacts struct {
	CameraID       string
	SystemID       string
	Tier           int
	ManagingOrgID  string
	OperatingOrgID string
	Kinds          Mask
	Purposes       Mask
	AreaBit        Mask
	Area           string
	Classified     bool
	Public         bool
	// PrivateOwner: the system's managing organisation is a private owner.
	PrivateOwner    bool
	ConsentOnRecord bool
}

// CameraFacts reads the facts of one camera for access.Decide.
func (s *Service) CameraFacts(ctx context.Context, id string) (CameraFacts, error) {
	var f CameraFacts
	var kind, doc, date string
	err := s.db.Q().QueryRow(ctx, `SELECT c.id, c.system_id, s.tier, s.managing_org_id, s.operating_org_id, c.kinds, c.purposes,
		c.area_bit, c.area, c.classified, c.public, o.kind, c.consent_doc, c.consent_date
		FROM cameras c JOIN systems s ON s.id = c.system_id JOIN organisations o ON o.id = s.managing_org_id WHERE c.id = ?`, id).
		Scan(&f.CameraID, &f.SystemID, &f.Tier, &f.ManagingOrgID, &f.OperatingOrgID, &f.Kinds, &f.Purposes,
			&f.AreaBit, &f.Area, &f.Classified, &f.Public, &kind, &doc, &date)
	if errors.Is(err, sql.ErrNoRows) {
		return f, ErrNotFound
	}
	f.PrivateOwner = kind == OrgPrivateOwner
	f.ConsentOnRecord = Consent{Doc: doc, Date: date}.OnRecord()
	return f, err
}

// StreamSource is what the media hub needs to pull (or accept) a camera's
// stream. MainURL and SubURL carry the credentials: it is for the media hub
// alone. Its String, GoString, LogValue and JSON forms redact them, so a
// source that ends up in a log line or a response does not leak (R-SEC-3).
type StreamSource struct {
	CameraID  string
	MainURL   string
	SubURL    string
	Transport string
	OnDemand  bool
	Push      bool
	// OriginSite is the lower site a federated camera comes from (tier 1);
	// its video is pushed by that site on demand.
	OriginSite string
	// FederatedSub: a federated camera (tier 1) has a sub stream at its
	// site, which that site pushes on demand too.
	FederatedSub bool
}

func (s StreamSource) redacted() map[string]any {
	return map[string]any{"camera_id": s.CameraID, "main_url": RedactURL(s.MainURL), "sub_url": RedactURL(s.SubURL),
		"transport": s.Transport, "on_demand": s.OnDemand, "push": s.Push}
}

func (s StreamSource) String() string {
	return fmt.Sprintf("{%s %s %s %s on_demand=%t push=%t}", s.CameraID, RedactURL(s.MainURL), RedactURL(s.SubURL), s.Transport, s.OnDemand, s.Push)
}

// GoString keeps %#v from printing the credentials.
func (s StreamSource) GoString() string { return "registry.StreamSource" + s.String() }

// LogValue keeps slog from printing the credentials.
func (s StreamSource) LogValue() slog.Value {
	return slog.GroupValue(slog.String("camera_id", s.CameraID), slog.String("main_url", RedactURL(s.MainURL)),
		slog.String("sub_url", RedactURL(s.SubURL)), slog.String("transport", s.Transport))
}

// MarshalJSON writes the redacted form.
func (s StreamSource) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

// RedactURL replaces the user info of a URL by "***" (and the whole URL if
// it cannot be parsed, since it might still hold a password).
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		u.User = url.User("***")
	}
	return u.String()
}

const sourceCols = `id, main_url, main_cred_sealed, sub_url, sub_cred_sealed, transport, on_demand, push, origin_site, federated_sub`

func (s *Service) scanSource(sc interface{ Scan(...any) error }) (StreamSource, error) {
	var src StreamSource
	var mainSealed, subSealed string
	if err := sc.Scan(&src.CameraID, &src.MainURL, &mainSealed, &src.SubURL, &subSealed, &src.Transport, &src.OnDemand, &src.Push, &src.OriginSite, &src.FederatedSub); err != nil {
		return src, err
	}
	var err error
	if src.MainURL, err = s.withCred(src.MainURL, mainSealed); err != nil {
		return src, fmt.Errorf("camera %s main stream: %w", src.CameraID, err)
	}
	if src.SubURL, err = s.withCred(src.SubURL, subSealed); err != nil {
		return src, fmt.Errorf("camera %s sub stream: %w", src.CameraID, err)
	}
	return src, nil
}

func (s *Service) withCred(clean, sealed string) (string, error) {
	if clean == "" || sealed == "" {
		return clean, nil
	}
	c, err := s.openCred(sealed)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(clean)
	if err != nil {
		return "", errors.New("stored URL does not parse")
	}
	if c.Set {
		u.User = url.UserPassword(c.User, c.Pass)
	} else {
		u.User = url.User(c.User)
	}
	return u.String(), nil
}

// StreamSources lists every camera's stream source with credentials, for
// the media hub only. Never return it from an API.
func (s *Service) StreamSources(ctx context.Context) ([]StreamSource, error) {
	rows, err := s.db.Q().Query(ctx, `SELECT `+sourceCols+` FROM cameras ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StreamSource
	for rows.Next() {
		src, err := s.scanSource(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, rows.Err()
}

// StreamSource reads one camera's stream source with credentials (media hub only).
func (s *Service) StreamSource(ctx context.Context, id string) (StreamSource, error) {
	src, err := s.scanSource(s.db.Q().QueryRow(ctx, `SELECT `+sourceCols+` FROM cameras WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return src, ErrNotFound
	}
	return src, err
}
