package access

import (
	"fmt"
	"strings"
	"time"
)

// PersonalData is the separate permission to see personal data in
// analytics events: licence plates, and faces (sensitive personal data
// under the personal data law). It is not part of any role: an
// administrator grants it to a named user with its legal basis, and it may
// expire. Without it, face events are not returned at all and plate reads
// come back without their plate and snapshot.
type PersonalData uint8

const (
	PersonalPlates PersonalData = 1 << iota
	PersonalFaces
)

var personalNames = []struct {
	p PersonalData
	n string
}{{PersonalPlates, "plates"}, {PersonalFaces, "faces"}}

// ParsePersonalData reads scope names ("plates", "faces").
func ParsePersonalData(names []string) (PersonalData, error) {
	var p PersonalData
next:
	for _, n := range names {
		for _, pn := range personalNames {
			if pn.n == strings.TrimSpace(n) {
				p |= pn.p
				continue next
			}
		}
		return 0, fmt.Errorf("unknown personal data scope %q (allowed: plates, faces)", n)
	}
	return p, nil
}

// Names lists the scope names.
func (p PersonalData) Names() []string {
	out := []string{}
	for _, pn := range personalNames {
		if p&pn.p != 0 {
			out = append(out, pn.n)
		}
	}
	return out
}

// PersonalGrant is a user's personal-data permission.
type PersonalGrant struct {
	Scopes  PersonalData
	Expires time.Time // zero: no expiry
}

// Reasons of personal-data decisions.
const (
	ReasonPersonalGranted   Reason = "personal_data_granted"
	ReasonPersonalForbidden Reason = "personal_data_forbidden"
	ReasonPersonalExpired   Reason = "personal_data_expired"
)

// DecidePersonal decides whether subject s, holding grant g, may see the
// personal data in want. The camera rules still apply on top: this only
// opens plates/faces of events on cameras s may already see.
func DecidePersonal(s *Subject, g PersonalGrant, want PersonalData, now time.Time) Decision {
	if s == nil || s.Disabled {
		return Decision{Reason: ReasonDisabled}
	}
	if want == 0 {
		return Decision{Allow: true, Reason: ReasonPersonalGranted}
	}
	if g.Scopes&want != want {
		return Decision{Reason: ReasonPersonalForbidden}
	}
	if !g.Expires.IsZero() && !now.Before(g.Expires) {
		return Decision{Reason: ReasonPersonalExpired}
	}
	return Decision{Allow: true, Reason: ReasonPersonalGranted}
}

// Effective is what of the grant is in force at now.
func (g PersonalGrant) Effective(now time.Time) PersonalData {
	if !g.Expires.IsZero() && !now.Before(g.Expires) {
		return 0
	}
	return g.Scopes
}
