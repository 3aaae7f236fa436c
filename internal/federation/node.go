package federation

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// node is the site's embedded NATS server: JetStream in the data folder, the
// site id as JetStream domain, no client listener (the site's own code
// connects in-process). Tier 1 listens for leaf nodes; a lower site dials
// its leaf connection out to tier 1.
type node struct {
	ns     *server.Server
	siteID string

	// internal is the password of this process's own in-process
	// connections (random per start, never stored).
	internal string

	port int // the leaf listener's port (tier 1)

	mu    sync.RWMutex
	sites map[string]siteCred // leaf user → credential (tier 1)
}

// siteCred is what the leaf authenticator knows of an enrolled site.
type siteCred struct {
	SiteID string
	Hash   string // hex SHA-256 of the leaf password
}

type nodeOptions struct {
	SiteID   string
	StoreDir string
	// LeafListen: tier 1 accepts leaf nodes here ("" = none).
	LeafListen string
	LeafTLS    *tls.Config
	// Remote: a lower site's leaf connection to tier 1 (nil = none).
	Remote *remoteLeaf
}

type remoteLeaf struct {
	URL      string // nats-leaf://host:port or tls://host:port
	User     string
	Password string
	// CredsFile: a creds file (user JWT + seed) instead of user/password
	// (tier 1 on an external NATS cluster).
	CredsFile string
	TLS       *tls.Config
}

// accountFor is the tier-1 NATS account of a lower site: each lower site
// lives in its own account, so it can only answer for its own domain.
func accountFor(site string) string { return "SITE_" + site }

func leafUser(site string) string { return "site-" + site }

const internalUser = "vigil-internal"

func startNode(o nodeOptions) (*node, error) {
	n := &node{siteID: o.SiteID, internal: randomToken(24), sites: map[string]siteCred{}}
	opts := &server.Options{
		ServerName:         o.SiteID,
		DontListen:         true,
		JetStream:          true,
		JetStreamDomain:    o.SiteID,
		StoreDir:           filepath.Join(o.StoreDir),
		NoLog:              true,
		NoSigs:             true,
		MaxPayload:         1 << 20,
		JetStreamMaxMemory: 64 << 20,
	}
	if o.LeafListen != "" {
		host, port, err := net.SplitHostPort(o.LeafListen)
		if err != nil {
			return nil, fmt.Errorf("federation.leaf_listen: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("federation.leaf_listen: %w", err)
		}
		if p == 0 {
			// A free port now (the server does not tell which port it took).
			if p, err = freePort(host); err != nil {
				return nil, fmt.Errorf("federation.leaf_listen: %w", err)
			}
		}
		opts.LeafNode.Host, opts.LeafNode.Port = host, p
		// Lower sites dial the address they were given at enrollment
		// (federation.leaf_url: a public address, a NAT or a proxy); the
		// listener's own addresses are not gossiped to them.
		opts.LeafNode.NoAdvertise = true
		n.port = p
		opts.LeafNode.TLSConfig = o.LeafTLS
		opts.LeafNode.AuthTimeout = 5
		opts.CustomClientAuthentication = n
	}
	if o.Remote != nil {
		u, err := url.Parse(o.Remote.URL)
		if err != nil {
			return nil, fmt.Errorf("federation: leaf url: %w", err)
		}
		r := &server.RemoteLeafOpts{URLs: []*url.URL{u}, LocalAccount: server.DEFAULT_GLOBAL_ACCOUNT}
		if o.Remote.CredsFile != "" {
			r.Credentials = o.Remote.CredsFile
		} else {
			u.User = url.UserPassword(o.Remote.User, o.Remote.Password)
		}
		if o.Remote.TLS != nil || u.Scheme == "tls" {
			r.TLS, r.TLSConfig = true, o.Remote.TLS
		}
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{r}
		opts.LeafNode.ReconnectInterval = time.Second
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("federation: nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("federation: embedded NATS did not start")
	}
	n.ns = ns
	return n, nil
}

// Check authenticates every connection of a tier-1 node: this process's
// in-process connections, and lower sites' leaf connections, each bound to
// its own site's account.
func (n *node) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	switch c.Kind() {
	case server.CLIENT:
		if c.RemoteAddress() != nil && !strings.HasPrefix(c.RemoteAddress().String(), "pipe") && c.RemoteAddress().Network() != "pipe" {
			return false
		}
		user, acc, _ := strings.Cut(o.Username, "@")
		if user != internalUser || subtle.ConstantTimeCompare([]byte(o.Password), []byte(n.internal)) != 1 {
			return false
		}
		if acc == "" {
			return true // the global account
		}
		a, err := n.ns.LookupAccount(acc)
		if err != nil {
			return false
		}
		c.RegisterUser(&server.User{Username: o.Username, Account: a})
		return true
	case server.LEAF:
		n.mu.RLock()
		sc, ok := n.sites[o.Username]
		n.mu.RUnlock()
		if !ok || subtle.ConstantTimeCompare([]byte(hashSecret(o.Password)), []byte(sc.Hash)) != 1 {
			return false
		}
		a, err := n.ns.LookupAccount(accountFor(sc.SiteID))
		if err != nil {
			return false
		}
		c.RegisterUser(&server.User{Username: o.Username, Account: a, Permissions: leafPermissions(n.siteID)})
		return true
	}
	return false
}

// leafPermissions is what a lower site's leaf connection may publish into
// its account at tier 1: allowed, only answers. Everything a lower site
// says reaches tier 1 as a reply to something tier 1 asked: replies to its
// requests (_INBOX.>: the ask, relay and footage answers), the JetStream
// API replies of the stream source tier 1 runs against the site's domain
// ($JSC.R.>), and that source's deliveries and heartbeats ($JS.S.>). So a
// site cannot publish on a subject tier 1 listens to of its own accord, nor
// drive tier 1's JetStream API in its account (it could delete or purge
// what tier 1 sourced from it): $JS.API.> does not cross a leaf between
// JetStream domains, and tier 1's own domain prefix is denied as well.
func leafPermissions(tier1 string) *server.Permissions {
	return &server.Permissions{Publish: &server.SubjectPermission{
		Allow: []string{"_INBOX.>", "$JSC.R.>", "$JS.S.>"},
		Deny:  []string{"$JS." + tier1 + ".API.>", "$JS.API.>"},
	}}
}

// addSite registers (or refreshes) an enrolled site: its account with
// JetStream, and its leaf credential.
func (n *node) addSite(site, hash string) error {
	acc, err := n.ns.LookupAccount(accountFor(site))
	if err != nil {
		if acc, err = n.ns.RegisterAccount(accountFor(site)); err != nil {
			return err
		}
	}
	if !acc.JetStreamEnabled() {
		lim := map[string]server.JetStreamAccountLimits{"": {MaxMemory: 8 << 20, MaxStore: 16 << 30, MaxStreams: 8, MaxConsumers: 64}}
		if err := acc.EnableJetStream(lim, nil); err != nil {
			return fmt.Errorf("federation: jetstream for %s: %w", site, err)
		}
	}
	n.mu.Lock()
	n.sites[leafUser(site)] = siteCred{SiteID: site, Hash: hash}
	n.mu.Unlock()
	return nil
}

// removeSite forgets a site's credential and closes its leaf connections.
func (n *node) removeSite(site string) {
	n.mu.Lock()
	delete(n.sites, leafUser(site))
	n.mu.Unlock()
	n.kickLeafs(site)
}

func (n *node) kickLeafs(site string) {
	lz, err := n.ns.Leafz(&server.LeafzOptions{Account: accountFor(site)})
	if err != nil {
		return
	}
	for _, l := range lz.Leafs {
		_ = n.ns.DisconnectClientByID(l.ID)
	}
}

// leafConnected reports whether a site's leaf connection is up (tier 1),
// or whether this site's own leaf connection to tier 1 is up (lower site).
func (n *node) leafConnected(site string) bool {
	opts := &server.LeafzOptions{}
	if site != "" {
		opts.Account = accountFor(site)
	}
	lz, err := n.ns.Leafz(opts)
	return err == nil && len(lz.Leafs) > 0
}

func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// connect opens an in-process connection, in account acc ("" = global).
func (n *node) connect(acc, name string) (*nats.Conn, error) {
	user := internalUser
	if acc != "" {
		user += "@" + acc
	}
	return nats.Connect("", nats.InProcessServer(n.ns), nats.UserInfo(user, n.internal), nats.Name(name),
		nats.MaxReconnects(-1))
}

func (n *node) shutdown() {
	if n == nil || n.ns == nil {
		return
	}
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
}
