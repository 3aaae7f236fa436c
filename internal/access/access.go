// Package access answers one question: may subject S do action A on camera C,
// and why (R-ACC-1..4, R-CAM-2, R-CAM-4).
//
// The rules live in two forms that must agree: Decide, for one camera, and
// Scope, the same rules as an SQL WHERE fragment so that lists are filtered by
// the database instead of loading every camera. A randomized test on both
// engines checks that the two forms give the same answer.
//
// This package does not import internal/registry (registry imports access for
// its scope filter); masks are plain int64 with the bit layout of
// registry/enums.go.
package access

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Action is something a subject wants to do. Camera actions are decided per
// camera by Decide; site actions by DecideSite.
type Action uint8

const (
	ActionNone Action = iota
	// camera actions
	ViewLive
	Playback
	Export
	PTZ
	Manage
	// site actions
	ManageUsers
	ReadAudit
	ApproveGrants
	ManageRegistry

	numActions
)

var actionNames = [numActions]string{
	ActionNone:     "",
	ViewLive:       "view-live",
	Playback:       "playback",
	Export:         "export",
	PTZ:            "ptz",
	Manage:         "manage",
	ManageUsers:    "manage-users",
	ReadAudit:      "read-audit",
	ApproveGrants:  "approve-grants",
	ManageRegistry: "manage-registry",
}

// CameraActions and SiteActions list the actions of each family, in order.
var (
	CameraActions = []Action{ViewLive, Playback, Export, PTZ, Manage}
	SiteActions   = []Action{ManageUsers, ReadAudit, ApproveGrants, ManageRegistry}
)

func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Camera reports whether a is decided per camera.
func (a Action) Camera() bool { return a >= ViewLive && a <= Manage }

// Site reports whether a is a site-wide action.
func (a Action) Site() bool { return a >= ManageUsers && a < numActions }

// ParseAction reads the wire name of an action ("view-live", …).
func ParseAction(s string) (Action, error) {
	for i := ViewLive; i < numActions; i++ {
		if actionNames[i] == s {
			return i, nil
		}
	}
	return ActionNone, fmt.Errorf("unknown action %q", s)
}

func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ActionSet is a set of actions, bit (1 << Action); stored as BIGINT.
type ActionSet int64

// SetOf builds a set.
func SetOf(as ...Action) ActionSet {
	var m ActionSet
	for _, a := range as {
		m |= 1 << a
	}
	return m
}

// Has reports whether a is in the set.
func (m ActionSet) Has(a Action) bool { return m&(1<<a) != 0 }

// Actions lists the members in order.
func (m ActionSet) Actions() []Action {
	var out []Action
	for a := ViewLive; a < numActions; a++ {
		if m.Has(a) {
			out = append(out, a)
		}
	}
	return out
}

// Names lists the wire names of the members (for JSON and audit details).
func (m ActionSet) Names() []string {
	as := m.Actions()
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// MarshalJSON writes the set as a list of wire names.
func (m ActionSet) MarshalJSON() ([]byte, error) { return json.Marshal(m.Names()) }

// UnmarshalJSON reads a list of wire names.
func (m *ActionSet) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	v, err := ParseActionSet(names)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseActionSet reads wire names into a set.
func ParseActionSet(names []string) (ActionSet, error) {
	var m ActionSet
	for _, n := range names {
		a, err := ParseAction(strings.TrimSpace(n))
		if err != nil {
			return 0, err
		}
		m |= 1 << a
	}
	return m, nil
}

// Roles is a user's set of roles (bit set; a user may hold several).
type Roles uint8

const (
	RoleAdmin Roles = 1 << iota
	RoleOperator
	RoleViewer
	RoleAuditor
)

var roleNames = []struct {
	r Roles
	n string
}{{RoleAdmin, "admin"}, {RoleOperator, "operator"}, {RoleViewer, "viewer"}, {RoleAuditor, "auditor"}}

// ParseRoles reads role names ("admin", "operator", "viewer", "auditor").
func ParseRoles(names []string) (Roles, error) {
	var r Roles
next:
	for _, n := range names {
		n = strings.TrimSpace(n)
		for _, rn := range roleNames {
			if rn.n == n {
				r |= rn.r
				continue next
			}
		}
		return 0, fmt.Errorf("unknown role %q (allowed: admin, operator, viewer, auditor)", n)
	}
	return r, nil
}

// Names lists the role names in the set.
func (r Roles) Names() []string {
	var out []string
	for _, rn := range roleNames {
		if r&rn.r != 0 {
			out = append(out, rn.n)
		}
	}
	return out
}

// What each role permits. A role only opens the door; the camera rules then
// decide which cameras. Auditors read the log and nothing else, so an audit
// account cannot be used to watch footage.
var rolePermits = [...]struct {
	r Roles
	m ActionSet
}{
	{RoleViewer, 1<<ViewLive | 1<<Playback},
	{RoleOperator, 1<<ViewLive | 1<<Playback | 1<<Export | 1<<PTZ},
	{RoleAdmin, 1<<ViewLive | 1<<Playback | 1<<Export | 1<<PTZ | 1<<Manage |
		1<<ManageUsers | 1<<ReadAudit | 1<<ApproveGrants | 1<<ManageRegistry},
	{RoleAuditor, 1 << ReadAudit},
}

// Permits is the union of what the roles allow before any camera rule.
func (r Roles) Permits() ActionSet {
	var m ActionSet
	for _, p := range rolePermits {
		if r&p.r != 0 {
			m |= p.m
		}
	}
	return m
}

// PrivateOwnerKind is the organisation kind of a private camera owner
// (registry.OrgPrivateOwner; repeated here because access may not import
// registry; a test keeps the two equal).
const PrivateOwnerKind = "private_owner"

// Subject is who asks: a user and the facts of their organisation.
type Subject struct {
	UserID  string
	OrgID   string
	OrgKind string // carried for audit and display; the rules use the flags below, so a province configures by data, not by kind
	Roles   Roles
	// Functions is the organisation's purposes mask (R-ACC-3).
	Functions int64
	// AreaLimit restricts function-based access to these area bits; 0 = any.
	AreaLimit int64
	// Cleared: the organisation is cleared for classified cameras (R-CAM-4).
	Cleared bool
	// Highest: the organisation is the configured highest-access one (R-ACC-1).
	Highest bool
	// Grants are the organisation's grants with their approvals (LoadGrants).
	Grants   []Grant
	Disabled bool
}

// Camera is the set of facts about a camera that the rules read.
type Camera struct {
	ID           string
	SystemID     string
	ManagingOrg  string
	OperatingOrg string
	Purposes     int64
	Kinds        int64
	AreaBit      int64
	Classified   bool
	// Private: the system's managing organisation is a private owner.
	Private bool
	// Consent: the owner's consent to share is on record (R-CAM-2).
	Consent bool
}

// Approval is the provincial committee's written decision allowing an
// organisation access beyond its functions (R-ACC-4).
type Approval struct {
	ID           string    `json:"id"`
	OrgID        string    `json:"org_id"`
	DecisionNo   string    `json:"decision_no"`
	DecisionDate time.Time `json:"decision_date"`
	Signer       string    `json:"signer"`
	Scope        string    `json:"scope"`
	ExpiresAt    time.Time `json:"expires_at"`
	DocSHA256    string    `json:"doc_sha256"`
	CreatedBy    string    `json:"created_by,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// Valid reports whether the approval is in force at now.
func (a *Approval) Valid(now time.Time) bool {
	return a.ID != "" && now.Before(a.ExpiresAt)
}

// Grant extends an organisation's access. It covers a camera when every
// criterion that is set holds (CameraID, SystemID equal; Purposes, Kinds
// intersect; Areas contains the camera's area bit). A grant with an approval
// reaches any covered camera while the approval is in force; a grant without
// one only reaches covered cameras within the organisation's functions (it can
// add export or PTZ there, never new cameras).
type Grant struct {
	ID       string    `json:"id"`
	OrgID    string    `json:"org_id"`
	Actions  ActionSet `json:"actions"`
	CameraID string    `json:"camera_id,omitempty"`
	SystemID string    `json:"system_id,omitempty"`
	Purposes int64     `json:"purposes,omitempty"`
	Kinds    int64     `json:"kinds,omitempty"`
	Areas    int64     `json:"areas,omitempty"`
	// ExpiresAt of the grant itself; zero = until revoked (or until the
	// approval's expiry, which always bounds a grant that carries one).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Approval is the committee decision the grant rests on (ID "" = none).
	Approval     Approval  `json:"approval,omitzero"`
	Note         string    `json:"note,omitempty"`
	CreatedBy    string    `json:"created_by,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

// Until is when the grant lapses: the earlier of its own expiry and its
// approval's; zero = no end. Live sessions that rest on a grant should end
// then (the revocation hook only fires for explicit revocations).
func (g *Grant) Until() time.Time {
	end := g.ExpiresAt
	if g.Approval.ID != "" && (end.IsZero() || g.Approval.ExpiresAt.Before(end)) {
		end = g.Approval.ExpiresAt
	}
	return end
}

// Reason is a stable code telling why a decision went the way it did. Codes
// are part of the API (audit entries, HTTP errors): never rename one.
type Reason string

const (
	// allow
	ReasonHighestAccess Reason = "highest_access" // R-ACC-1
	ReasonSystemOwner   Reason = "system_owner"   // R-ACC-2
	ReasonFunctionMatch Reason = "function_match" // R-ACC-3
	ReasonGrant         Reason = "grant"          // R-ACC-4
	ReasonOwnOrg        Reason = "own_org"        // an admin managing their own organisation's users
	ReasonAuditorRole   Reason = "auditor_role"   // an auditor reading the log
	// deny
	ReasonDisabled         Reason = "disabled"
	ReasonUnknownAction    Reason = "unknown_action"
	ReasonRoleForbids      Reason = "role_forbids"
	ReasonClassified       Reason = "classified"       // R-CAM-4
	ReasonNoOwnerConsent   Reason = "no_owner_consent" // R-CAM-2
	ReasonAreaOutside      Reason = "area_outside"
	ReasonNoFunctionMatch  Reason = "no_function_match"
	ReasonApprovalExpired  Reason = "approval_expired"
	ReasonGrantExpired     Reason = "grant_expired"
	ReasonApprovalRequired Reason = "approval_required" // a grant without approval on a camera outside the functions
	ReasonExportNeedsGrant Reason = "export_needs_grant"
	ReasonPTZNeedsGrant    Reason = "ptz_needs_grant"
	ReasonNotOwner         Reason = "not_owner"   // manage: only the system's organisations (or the highest)
	ReasonNotHighest       Reason = "not_highest" // site action reserved to the highest organisation
	ReasonOtherOrg         Reason = "other_org"   // managing users of another organisation
	ReasonNoRule           Reason = "no_rule"
)

// Decision is an answer and its reason.
type Decision struct {
	Allow  bool   `json:"allow"`
	Reason Reason `json:"reason"`
}

func (d Decision) String() string {
	if d.Allow {
		return "allow:" + string(d.Reason)
	}
	return "deny:" + string(d.Reason)
}
