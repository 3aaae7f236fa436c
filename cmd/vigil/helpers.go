package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigil-vms/vigil/internal/app"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/secrets"
	"github.com/vigil-vms/vigil/internal/store"
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

// siteKey opens the site's Ed25519 signing key from the shell (audit verify,
// record check): the sealed key file is opened with the site secret.
func siteKey(c config.Config) (ed25519.PrivateKey, string, error) {
	// Checking a site that is not there must not quietly create an empty
	// one (a new key, an empty log) and call it intact.
	if _, err := os.Stat(filepath.Join(c.DataDir, "site-signing.key")); err != nil {
		return nil, "", fmt.Errorf("config: data_dir: no site in %s (no site-signing.key): %w", c.DataDir, err)
	}
	key, _, err := secrets.LoadKey(c.Secrets.Key, c.Secrets.KeyFile, c.DataDir)
	if err != nil {
		return nil, "", err
	}
	sealer, err := secrets.NewSealer(key)
	if err != nil {
		return nil, "", err
	}
	return secrets.SiteKey(sealer, c.DataDir)
}

// offlineSite is a site opened from the shell while its server may be
// stopped: configuration, signing key and database, no listeners.
type offlineSite struct {
	cfg   config.Config
	key   ed25519.PrivateKey
	keyID string
	db    *store.DB
}

func openOffline(ctx context.Context, load func() (config.Config, error)) (*offlineSite, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	key, kid, err := siteKey(c)
	if err != nil {
		return nil, err
	}
	db, err := openStore(ctx, c)
	if err != nil {
		return nil, err
	}
	return &offlineSite{cfg: c, key: key, keyID: kid, db: db}, nil
}
