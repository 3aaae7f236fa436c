package httpapi

import (
	"context"
	"time"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// BuildSubject builds the access subject of a user: the organisation's facts
// and grants from the database, the user's roles. It is loaded per request
// (a few indexed rows) so a revoked grant or a changed function takes effect
// on the next request, never after a cache expiry.
func BuildSubject(ctx context.Context, db *store.DB, highestOrg, userID, orgID string, roles []string, disabled bool) (access.Subject, error) {
	s, err := access.LoadOrgSubject(ctx, db.Q(), orgID, highestOrg, time.Now())
	if err != nil {
		return s, err
	}
	r, err := access.ParseRoles(roles)
	if err != nil {
		return s, err
	}
	s.UserID, s.Roles, s.Disabled = userID, r, disabled
	return s, nil
}

// CameraOf turns registry facts into the access room's camera.
func CameraOf(f registry.CameraFacts) access.Camera {
	return access.Camera{
		ID: f.CameraID, SystemID: f.SystemID, ManagingOrg: f.ManagingOrgID, OperatingOrg: f.OperatingOrgID,
		Purposes: f.Purposes, Kinds: f.Kinds, AreaBit: f.AreaBit, Classified: f.Classified,
		Private: f.PrivateOwner, Consent: f.ConsentOnRecord,
	}
}
