package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// extCluster is tier 1's control plane on an external NATS cluster
// (federation.nats_url, large tier-1 sites) instead of the embedded server.
// The cluster runs in operator mode (decentralized auth) with a full account
// resolver, so tier 1 can admit a new site at runtime: each enrolled site
// gets an account of its own (an nkey whose seed tier 1 keeps sealed in
// federation_nats_accounts), described by an account JWT that tier 1 signs
// with the operator signing key and pushes to the cluster's resolver
// ($SYS.REQ.CLAIMS.UPDATE) over a system-account connection. The lower
// site's leaf credential is a user JWT of that account carrying the same
// publish allow-list as the embedded server's authenticator (leafPermissions),
// and tier 1's own connections to the account use a user of its own, made at
// each start. Revoking adds the leaf user to the account's revocations and
// pushes the account again: the cluster refuses and closes that user at once.
type extCluster struct {
	urls    string
	tlsOpts []nats.Option // the cluster's CA (federation.nats_ca), if any
	tier1   string
	op      nkeys.KeyPair
	sys     *nats.Conn
	db      *store.DB
	sealer  registry.Sealer

	mu    sync.Mutex
	sites map[string]*extSite // site id → account (active sites)
	byKey map[string]string   // account public key → site id
}

// extSite is an enrolled site's account as tier 1 holds it.
type extSite struct {
	acc     nkeys.KeyPair
	accKey  string
	userJWT string // tier 1's own user in the account
	userKey nkeys.KeyPair
}

// siteAccountRow is a federation_nats_accounts row.
type siteAccountRow struct {
	AccountKey, SeedSealed, LeafUserKey, Revoked string
}

// Account limits of a site's account: JetStream as the embedded server's
// addSite gives.
var siteJetStream = jwt.JetStreamLimits{MemoryStorage: 8 << 20, DiskStorage: 16 << 30, Streams: 8, Consumer: 64}

func openExtCluster(cfg config.Config, db *store.DB, sealer registry.Sealer) (*extCluster, error) {
	f := cfg.Federation
	raw, err := os.ReadFile(f.NatsOperatorSeedFile)
	if err != nil {
		return nil, fmt.Errorf("config: federation.nats_operator_seed_file: %w", err)
	}
	seed := operatorSeed(raw)
	op, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, errors.New("config: federation.nats_operator_seed_file: not an nkey seed")
	}
	if p, _, err := nkeys.DecodeSeed(seed); err != nil || p != nkeys.PrefixByteOperator {
		return nil, errors.New("config: federation.nats_operator_seed_file: not an operator seed (SO...)")
	}
	c := &extCluster{urls: f.NatsURL, tier1: cfg.Site.ID, op: op, db: db, sealer: sealer,
		sites: map[string]*extSite{}, byKey: map[string]string{}}
	if f.NatsCA != "" {
		// A private CA for the cluster's tls:// URLs.
		c.tlsOpts = append(c.tlsOpts, nats.RootCAs(f.NatsCA))
	}
	c.sys, err = nats.Connect(f.NatsURL, append([]nats.Option{nats.UserCredentials(f.NatsSystemCreds), nats.Name("vigil-" + cfg.Site.ID + "-system"),
		nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false)}, c.tlsOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("federation: external NATS (system account): %w", err)
	}
	return c, nil
}

// operatorSeed finds the operator seed in the file: a bare seed, or the
// seed line of an nsc-style key file.
func operatorSeed(raw []byte) []byte {
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "SO") {
			return []byte(l)
		}
	}
	return []byte(strings.TrimSpace(string(raw)))
}

func (c *extCluster) close() {
	if c != nil && c.sys != nil {
		c.sys.Close()
	}
}

func (c *extCluster) loadRow(ctx context.Context, q store.Q, site string) (siteAccountRow, error) {
	var r siteAccountRow
	err := q.QueryRow(ctx, `SELECT account_key, account_seed_sealed, leaf_user_key, revoked_users FROM federation_nats_accounts WHERE site_id = ?`, site).
		Scan(&r.AccountKey, &r.SeedSealed, &r.LeafUserKey, &r.Revoked)
	return r, err
}

// account returns the site's account row, making the account the first time.
func (c *extCluster) account(ctx context.Context, site string) (siteAccountRow, error) {
	r, err := c.loadRow(ctx, c.db.Q(), site)
	if !errors.Is(err, sql.ErrNoRows) {
		return r, err
	}
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return r, err
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	sealed, err := c.sealer.Seal(seed)
	if err != nil {
		return r, err
	}
	now := time.Now().UnixMilli()
	_, err = c.db.Q().Exec(ctx, `INSERT INTO federation_nats_accounts (site_id, account_key, account_seed_sealed, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)`, site, pub, sealed, now, now)
	if err != nil && !store.IsUniqueViolation(err) {
		return r, err
	}
	return c.loadRow(ctx, c.db.Q(), site) // the winner's, if two raced
}

func (c *extCluster) openSeed(r siteAccountRow) (nkeys.KeyPair, error) {
	seed, err := c.sealer.Open(r.SeedSealed)
	if err != nil {
		return nil, fmt.Errorf("federation: account seed: %w", err)
	}
	return nkeys.FromSeed(seed)
}

// accountJWT is the site's account as the cluster knows it: JetStream
// limits and the revoked leaf users, signed by the operator.
func (c *extCluster) accountJWT(site string, r siteAccountRow) (string, error) {
	ac := jwt.NewAccountClaims(r.AccountKey)
	ac.Name = accountFor(site)
	ac.Limits.JetStreamLimits = siteJetStream
	for k, at := range parseRevoked(r.Revoked) {
		ac.RevokeAt(k, time.Unix(at, 0))
	}
	return ac.Encode(c.op)
}

// push hands an account JWT to the cluster's resolver.
func (c *extCluster) push(ctx context.Context, accJWT string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := c.sys.RequestWithContext(ctx, "$SYS.REQ.CLAIMS.UPDATE", []byte(accJWT))
	if err != nil {
		return fmt.Errorf("federation: pushing an account to the NATS cluster: %w", err)
	}
	var rep struct {
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return fmt.Errorf("federation: NATS cluster's answer to an account update: %w", err)
	}
	if rep.Error != nil {
		return fmt.Errorf("federation: NATS cluster refused an account update: %s", rep.Error.Description)
	}
	return nil
}

// addSite makes (or restores) the site's account at the cluster and tier
// 1's own user in it.
func (c *extCluster) addSite(ctx context.Context, site string) error {
	r, err := c.account(ctx, site)
	if err != nil {
		return err
	}
	acc, err := c.openSeed(r)
	if err != nil {
		return err
	}
	aj, err := c.accountJWT(site, r)
	if err != nil {
		return err
	}
	if err := c.push(ctx, aj); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sites[site] != nil {
		return nil
	}
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "vigil-" + c.tier1
	uj, err := uc.Encode(acc)
	if err != nil {
		return err
	}
	c.sites[site] = &extSite{acc: acc, accKey: r.AccountKey, userJWT: uj, userKey: ukp}
	c.byKey[r.AccountKey] = site
	return nil
}

// issueLeaf makes the site a new leaf user (the old one is revoked) and
// returns its creds file content.
func (c *extCluster) issueLeaf(ctx context.Context, site string) (string, error) {
	c.mu.Lock()
	es := c.sites[site]
	c.mu.Unlock()
	if es == nil {
		return "", ErrNotFound
	}
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	uc := jwt.NewUserClaims(upub)
	uc.Name = leafUser(site)
	p := leafPermissions(c.tier1)
	uc.Pub.Allow.Add(p.Publish.Allow...)
	uc.Pub.Deny.Add(p.Publish.Deny...)
	uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeLeafnode, jwt.ConnectionTypeLeafnodeWS)
	uj, err := uc.Encode(es.acc)
	if err != nil {
		return "", err
	}
	creds, err := jwt.FormatUserConfig(uj, useed)
	if err != nil {
		return "", err
	}
	if err := c.setLeafUser(ctx, site, upub); err != nil {
		return "", err
	}
	return string(creds), nil
}

// revokeSite revokes the site's leaf user: the cluster closes its leaf
// connection and refuses it from now on.
func (c *extCluster) revokeSite(ctx context.Context, site string) error {
	err := c.setLeafUser(ctx, site, "")
	c.mu.Lock()
	if es := c.sites[site]; es != nil {
		delete(c.byKey, es.accKey)
		delete(c.sites, site)
	}
	c.mu.Unlock()
	return err
}

// setLeafUser records the site's current leaf user (""= none), revokes
// the previous one and pushes the account.
func (c *extCluster) setLeafUser(ctx context.Context, site, key string) error {
	var r siteAccountRow
	err := c.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = c.loadRow(ctx, tx, site); err != nil {
			return err
		}
		rev := parseRevoked(r.Revoked)
		if r.LeafUserKey != "" {
			rev[r.LeafUserKey] = time.Now().Unix()
		}
		r.LeafUserKey, r.Revoked = key, formatRevoked(rev)
		_, err = tx.Exec(ctx, `UPDATE federation_nats_accounts SET leaf_user_key = ?, revoked_users = ?, updated_at = ? WHERE site_id = ?`,
			r.LeafUserKey, r.Revoked, time.Now().UnixMilli(), site)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	aj, err := c.accountJWT(site, r)
	if err != nil {
		return err
	}
	return c.push(ctx, aj)
}

// connect opens tier 1's connection in a site's account.
func (c *extCluster) connect(site, name string) (*nats.Conn, error) {
	c.mu.Lock()
	es := c.sites[site]
	c.mu.Unlock()
	if es == nil {
		return nil, ErrNotFound
	}
	return nats.Connect(c.urls, append([]nats.Option{nats.UserJWT(func() (string, error) { return es.userJWT, nil },
		func(nonce []byte) ([]byte, error) { return es.userKey.Sign(nonce) }),
		nats.Name(name), nats.MaxReconnects(-1)}, c.tlsOpts...)...)
}

// leafLinks asks every server of the cluster for its leaf connections and
// returns the sites with one up.
func (c *extCluster) leafLinks(ctx context.Context) (map[string]bool, error) {
	inbox := c.sys.NewRespInbox()
	sub, err := c.sys.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := c.sys.PublishRequest("$SYS.REQ.SERVER.PING.LEAFZ", inbox, []byte(`{}`)); err != nil {
		return nil, err
	}
	c.mu.Lock()
	byKey := make(map[string]string, len(c.byKey))
	for k, v := range c.byKey {
		byKey[k] = v
	}
	c.mu.Unlock()
	up := map[string]bool{}
	// The first server answers within 2 s; then every server that answers
	// within 250 ms of the previous one counts.
	wait := 2 * time.Second
	for n := 0; ; n++ {
		m, err := sub.NextMsg(wait)
		if err != nil {
			if n == 0 {
				return nil, fmt.Errorf("federation: NATS cluster did not report its leaf connections: %w", err)
			}
			return up, nil
		}
		wait = 250 * time.Millisecond
		var rep struct {
			Data struct {
				Leafs []struct {
					Account string `json:"account"`
				} `json:"leafs"`
			} `json:"data"`
		}
		if json.Unmarshal(m.Data, &rep) != nil {
			continue
		}
		for _, l := range rep.Data.Leafs {
			if site, ok := byKey[l.Account]; ok {
				up[site] = true
			}
		}
		if ctx.Err() != nil {
			return up, nil
		}
	}
}

func parseRevoked(s string) map[string]int64 {
	out := map[string]int64{}
	for _, p := range splitList(s) {
		k, at, ok := strings.Cut(p, ":")
		if t, err := strconv.ParseInt(at, 10, 64); ok && err == nil {
			out[k] = t
		}
	}
	return out
}

func formatRevoked(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	return b.String()
}
