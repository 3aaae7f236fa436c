package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/registry"
)

// Credentials are what a lower site receives at enrollment. The file in the
// data folder keeps the secrets sealed with the site key.
type Credentials struct {
	SiteID       string   `json:"site_id"`
	HubSiteID    string   `json:"hub_site_id"`
	Systems      []string `json:"systems"`
	LeafURL      string   `json:"leaf_url"`
	LeafUser     string   `json:"leaf_user"`
	LeafPassword string   `json:"leaf_password,omitempty"`
	// LeafCreds is, when tier 1 runs on an external NATS cluster, the leaf
	// credential as a creds file (a user JWT of the site's account and its
	// seed) in place of user/password.
	LeafCreds  string `json:"leaf_creds,omitempty"`
	EnrolledAt int64  `json:"enrolled_at"`
}

// EnrollRequest is what `vigil enroll` sends to tier 1.
type EnrollRequest struct {
	Token  string `json:"token"`
	SiteID string `json:"site_id"`
}

const credFile = "federation.json"

// leafCredsFile is where a lower site puts its creds file for the NATS
// server to read (written at each start from the sealed copy).
const leafCredsFile = "federation-leaf.creds"

type credOnDisk struct {
	Credentials
	LeafPasswordSealed string `json:"leaf_password_sealed"`
	LeafCredsSealed    string `json:"leaf_creds_sealed,omitempty"`
}

// SaveCredentials writes the credentials (password and creds sealed) to
// dataDir.
func SaveCredentials(dataDir string, sealer registry.Sealer, c Credentials) error {
	sealed, err := sealer.Seal([]byte(c.LeafPassword))
	if err != nil {
		return err
	}
	d := credOnDisk{Credentials: c, LeafPasswordSealed: sealed}
	if c.LeafCreds != "" {
		if d.LeafCredsSealed, err = sealer.Seal([]byte(c.LeafCreds)); err != nil {
			return err
		}
	}
	d.LeafPassword, d.LeafCreds = "", ""
	b, _ := json.MarshalIndent(d, "", "  ")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(dataDir, credFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dataDir, credFile))
}

// LoadCredentials reads the credentials of dataDir (os.ErrNotExist when the
// site is not enrolled).
func LoadCredentials(dataDir string, sealer registry.Sealer) (Credentials, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, credFile))
	if err != nil {
		return Credentials{}, err
	}
	var d credOnDisk
	if err := json.Unmarshal(b, &d); err != nil {
		return Credentials{}, fmt.Errorf("federation: %s: %w", credFile, err)
	}
	p, err := sealer.Open(d.LeafPasswordSealed)
	if err != nil {
		return Credentials{}, fmt.Errorf("federation: %s: %w", credFile, err)
	}
	d.Credentials.LeafPassword = string(p)
	if d.LeafCredsSealed != "" {
		cr, err := sealer.Open(d.LeafCredsSealed)
		if err != nil {
			return Credentials{}, fmt.Errorf("federation: %s: %w", credFile, err)
		}
		d.Credentials.LeafCreds = string(cr)
	}
	return d.Credentials, nil
}

// writeLeafCreds writes the leaf creds file (0600) into dataDir and returns
// its path.
func writeLeafCreds(dataDir, creds string) (string, error) {
	path := filepath.Join(dataDir, leafCredsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(creds), 0o600); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// Enroll redeems token at the tier-1 site at baseURL for site siteID and
// saves the credentials in dataDir.
func Enroll(ctx context.Context, client *http.Client, baseURL, token, siteID, dataDir string, sealer registry.Sealer) (Credentials, error) {
	tok, err := ParseToken(token)
	if err != nil {
		return Credentials{}, err
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	body, _ := json.Marshal(EnrollRequest{Token: tok, SiteID: siteID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/api/v1/federation/enroll", bytes.NewReader(body))
	if err != nil {
		return Credentials{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return Credentials{}, fmt.Errorf("federation: enroll: %w", err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return Credentials{}, fmt.Errorf("federation: enroll refused (%d): %s", res.StatusCode, strings.TrimSpace(string(data)))
	}
	var c Credentials
	if err := json.Unmarshal(data, &c); err != nil {
		return Credentials{}, fmt.Errorf("federation: enroll answer: %w", err)
	}
	if c.SiteID != siteID || c.LeafURL == "" || (c.LeafPassword == "" && c.LeafCreds == "") {
		return Credentials{}, errors.New("federation: enroll answer incomplete")
	}
	if err := SaveCredentials(dataDir, sealer, c); err != nil {
		return Credentials{}, err
	}
	return c, nil
}
