package main

import (
	"context"
	"crypto/ed25519"
	"errors"

	"github.com/vigil-vms/vigil/internal/app"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/registry"
)

type auditPub = ed25519.PublicKey

// ensureHighestOrg creates the configured highest-access organisation on an
// empty site, so the first administrator has somewhere to belong.
func ensureHighestOrg(ctx context.Context, a *app.App) error {
	_, err := a.Registry.GetOrganisation(ctx, a.Cfg.Access.HighestOrg)
	if err == nil || !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	name := a.Cfg.Access.HighestOrgName
	if name == "" {
		name = a.Cfg.Access.HighestOrg
	}
	_, err = a.Registry.CreateOrganisation(ctx, registry.Actor{UserID: "system", Username: "bootstrap", Remote: "local"},
		registry.Organisation{ID: a.Cfg.Access.HighestOrg, Name: name, Kind: registry.OrgDepartment})
	return err
}

// oneTimePassword is printed once and must be changed at first login.
func oneTimePassword() string { return auth.GeneratePassword(16) }
