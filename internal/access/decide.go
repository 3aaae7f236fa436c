package access

import "time"

// Decide is the one decision function for camera actions. It allocates
// nothing: it runs on every live start, every timeline request and every
// segment fetch.
//
// The order of the rules, and why:
//  1. a disabled account (or no subject) may do nothing;
//  2. the user's roles must permit the action at all — a role is the outer
//     fence, no organisation fact widens it;
//  3. a classified camera only for a cleared organisation (R-CAM-4); this
//     comes before every allow rule so nothing (not ownership, not the
//     highest organisation, not a grant) can open it without clearance;
//  4. the managing agency and operating unit of the camera's system may do
//     everything on it (R-ACC-2);
//  5. managing a camera is for its system's organisations and the highest
//     organisation only; grants never carry "manage";
//  6. a private owner's camera without consent on record stays with its own
//     system (R-CAM-2). The consent is the legal ground for sharing footage
//     with anyone, so this holds for the highest organisation too (it still
//     manages the registry record, rule 5);
//  7. the highest organisation may do everything else (R-ACC-1);
//  8. view-live and playback of cameras whose purposes meet the
//     organisation's functions, within its area limit (R-ACC-3);
//  9. a grant that names the action and covers the camera: with an approval
//     in force it reaches any camera (R-ACC-4), without one only cameras of
//     rule 8 (so it adds export/PTZ there, never new cameras);
//  10. deny, with the most useful reason.
//
// Scope must express exactly these rules; change both together.
func Decide(s *Subject, a Action, c *Camera, now time.Time) Decision {
	if s == nil || s.Disabled {
		return Decision{Reason: ReasonDisabled}
	}
	if !a.Camera() || c == nil {
		return Decision{Reason: ReasonUnknownAction}
	}
	if !s.Roles.Permits().Has(a) {
		return Decision{Reason: ReasonRoleForbids}
	}
	if c.Classified && !s.Cleared {
		return Decision{Reason: ReasonClassified}
	}
	if s.OrgID != "" && (c.ManagingOrg == s.OrgID || c.OperatingOrg == s.OrgID) {
		return Decision{Allow: true, Reason: ReasonSystemOwner}
	}
	if a == Manage {
		if s.Highest {
			return Decision{Allow: true, Reason: ReasonHighestAccess}
		}
		return Decision{Reason: ReasonNotOwner}
	}
	if c.Private && !c.Consent {
		return Decision{Reason: ReasonNoOwnerConsent}
	}
	if s.Highest {
		return Decision{Allow: true, Reason: ReasonHighestAccess}
	}
	fm := functionMatch(s, c)
	if fm && (a == ViewLive || a == Playback) {
		return Decision{Allow: true, Reason: ReasonFunctionMatch}
	}
	// why not, if no grant helps: the highest-ranked reason among the
	// grants that covered the camera but could not be used
	var why Reason
	for i := range s.Grants {
		g := &s.Grants[i]
		if !g.usable(s.OrgID, a) || !g.covers(c) {
			continue
		}
		if r := g.lapse(now); r != "" {
			why = rankReason(why, r)
			continue
		}
		if g.Approval.ID != "" || fm {
			return Decision{Allow: true, Reason: ReasonGrant}
		}
		why = rankReason(why, ReasonApprovalRequired)
	}
	if why != "" {
		return Decision{Reason: why}
	}
	switch a {
	case Export:
		return Decision{Reason: ReasonExportNeedsGrant}
	case PTZ:
		return Decision{Reason: ReasonPTZNeedsGrant}
	}
	if c.Purposes&s.Functions != 0 {
		return Decision{Reason: ReasonAreaOutside}
	}
	return Decision{Reason: ReasonNoFunctionMatch}
}

// functionMatch is R-ACC-3: the camera serves one of the organisation's
// functions and lies within its area limit (0 = any area).
func functionMatch(s *Subject, c *Camera) bool {
	return c.Purposes&s.Functions != 0 && (s.AreaLimit == 0 || c.AreaBit&s.AreaLimit != 0)
}

// usable: the grant belongs to the organisation, is not revoked, names the
// action and has at least one coverage criterion (a grant without any would
// cover every camera; it is refused at creation and, should one appear
// anyway, covers nothing — fail closed).
func (g *Grant) usable(org string, a Action) bool {
	return g.Actions.Has(a) && g.OrgID == org && g.RevokedAt.IsZero() && g.hasCriteria()
}

func (g *Grant) hasCriteria() bool {
	return g.CameraID != "" || g.SystemID != "" || g.Purposes != 0 || g.Kinds != 0 || g.Areas != 0
}

// covers: every criterion that is set holds.
func (g *Grant) covers(c *Camera) bool {
	return (g.CameraID == "" || g.CameraID == c.ID) &&
		(g.SystemID == "" || g.SystemID == c.SystemID) &&
		(g.Purposes == 0 || g.Purposes&c.Purposes != 0) &&
		(g.Kinds == 0 || g.Kinds&c.Kinds != 0) &&
		(g.Areas == 0 || g.Areas&c.AreaBit != 0)
}

// lapse says why the grant is no longer in force at now ("" = in force). A
// grant with an approval lapses with it (R-ACC-4).
func (g *Grant) lapse(now time.Time) Reason {
	if g.Approval.ID != "" && !now.Before(g.Approval.ExpiresAt) {
		return ReasonApprovalExpired
	}
	if !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt) {
		return ReasonGrantExpired
	}
	return ""
}

// rankReason keeps the more telling of two denial reasons, so the answer does
// not depend on the order grants were loaded in: an expired approval (go back
// to the committee) beats an expired grant, which beats a missing approval.
func rankReason(have, got Reason) Reason {
	rank := func(r Reason) int {
		switch r {
		case ReasonApprovalExpired:
			return 3
		case ReasonGrantExpired:
			return 2
		case ReasonApprovalRequired:
			return 1
		}
		return 0
	}
	if rank(got) > rank(have) {
		return got
	}
	return have
}

// DecideSite decides the site actions, which concern no camera:
//   - manage-users: an admin of the highest organisation (any user), or an
//     admin for the users of their own organisation (reason own_org: the
//     caller must then restrict to s.OrgID; DecideManageUser does it);
//   - read-audit: the auditor role, or an admin of the highest organisation;
//   - approve-grants and manage-registry: an admin of the highest
//     organisation (the department keeps the shared registry and records the
//     committee's approvals).
func DecideSite(s *Subject, a Action) Decision {
	if s == nil || s.Disabled {
		return Decision{Reason: ReasonDisabled}
	}
	if !a.Site() {
		return Decision{Reason: ReasonUnknownAction}
	}
	if !s.Roles.Permits().Has(a) {
		return Decision{Reason: ReasonRoleForbids}
	}
	switch a {
	case ManageUsers:
		if s.Highest {
			return Decision{Allow: true, Reason: ReasonHighestAccess}
		}
		return Decision{Allow: true, Reason: ReasonOwnOrg}
	case ReadAudit:
		if s.Roles&RoleAuditor != 0 {
			return Decision{Allow: true, Reason: ReasonAuditorRole}
		}
	}
	if s.Highest {
		return Decision{Allow: true, Reason: ReasonHighestAccess}
	}
	return Decision{Reason: ReasonNotHighest}
}

// DecideManageUser decides whether s may create, change or disable a user of
// organisation targetOrg.
func DecideManageUser(s *Subject, targetOrg string) Decision {
	d := DecideSite(s, ManageUsers)
	if d.Allow && d.Reason == ReasonOwnOrg && (targetOrg == "" || targetOrg != s.OrgID) {
		return Decision{Reason: ReasonOtherOrg}
	}
	return d
}
