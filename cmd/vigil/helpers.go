package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"math/big"

	"github.com/vigil-vms/vigil/internal/app"
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

// oneTimePassword meets the 724 baseline (upper, lower, digit, symbol).
func oneTimePassword() string {
	const lower, upper, digits, symbols = "abcdefghijkmnopqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "!@#%&*-_+="
	pick := func(set string) byte {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		return set[n.Int64()]
	}
	out := []byte{pick(upper), pick(lower), pick(digits), pick(symbols)}
	for len(out) < 16 {
		out = append(out, pick(lower+upper+digits))
	}
	return string(out)
}
