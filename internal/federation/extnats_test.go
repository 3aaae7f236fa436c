package federation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/federation/fedtest"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// natsCluster is an "external" NATS server as a large tier-1 site runs it:
// operator mode (decentralized auth), the system account preloaded in a
// full account resolver, JetStream with domain = tier 1's site id, and a
// leaf listener for lower sites.
type natsCluster struct {
	ns        *server.Server
	leafAddr  string
	seedFile  string // the operator seed tier 1 signs accounts with
	sysCreds  string // a system account user's creds
	clientURL string
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func startNatsCluster(t *testing.T, domain string) *natsCluster {
	t.Helper()
	return startNatsClusterWith(t, domain, nil)
}

// startNatsClusterWith starts the cluster after mutate (nil: none) has
// changed its options (TLS, say).
func startNatsClusterWith(t *testing.T, domain string, mutate func(*server.Options)) *natsCluster {
	t.Helper()
	dir := t.TempDir()
	op := must(nkeys.CreateOperator())
	opPub := must(op.PublicKey())
	sysAcc := must(nkeys.CreateAccount())
	sysPub := must(sysAcc.PublicKey())
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name, oc.SystemAccount = "vigil-test", sysPub
	opJWT := must(oc.Encode(op))
	opClaims := must(jwt.DecodeOperatorClaims(opJWT))
	ac := jwt.NewAccountClaims(sysPub)
	ac.Name = "SYS"
	sysJWT := must(ac.Encode(op))
	su := must(nkeys.CreateUser())
	uc := jwt.NewUserClaims(must(su.PublicKey()))
	uc.Name = "vigil-sys"
	creds := must(jwt.FormatUserConfig(must(uc.Encode(sysAcc)), must(su.Seed())))

	c := &natsCluster{seedFile: filepath.Join(dir, "operator.nk"), sysCreds: filepath.Join(dir, "sys.creds")}
	if err := os.WriteFile(c.seedFile, must(op.Seed()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.sysCreds, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := server.NewDirAccResolver(filepath.Join(dir, "jwt"), 0, time.Minute, server.NoDelete)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Store(sysPub, sysJWT); err != nil {
		t.Fatal(err)
	}
	ln := must(net.Listen("tcp", "127.0.0.1:0"))
	leafPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	opts := &server.Options{
		ServerName: "ext-nats", Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		TrustedOperators: []*jwt.OperatorClaims{opClaims}, SystemAccount: sysPub, AccountResolver: res,
		JetStream: true, JetStreamDomain: domain, StoreDir: filepath.Join(dir, "js"), JetStreamMaxMemory: 64 << 20,
	}
	opts.LeafNode.Host, opts.LeafNode.Port = "127.0.0.1", leafPort
	// Lower sites dial the address they were given (leaf_url), not the
	// cluster's own (leafnodes { no_advertise: true }).
	opts.LeafNode.NoAdvertise = true
	if mutate != nil {
		mutate(opts)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("external NATS did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	c.ns, c.clientURL = ns, ns.ClientURL()
	c.leafAddr = fmt.Sprintf("127.0.0.1:%d", leafPort)
	return c
}

// TestFederationExternalNATS runs tier 1 on an external NATS cluster
// (federation.nats_url) with a lower site linked to it as a leaf node
// through a proxy the test cuts.
func TestFederationExternalNATS(t *testing.T) {
	ctx := context.Background()
	cl := startNatsCluster(t, "test-site")
	proxy := fedtest.NewLinkProxy(t)
	proxy.SetTarget(cl.leafAddr)
	db1, dataDir := storetest.Postgres(t), t.TempDir()
	startT1 := func() *apptest.Site {
		return apptest.Start(t, db1, apptest.Options{Mutate: func(c *config.Config) {
			c.DataDir = dataDir // the same site key across a restart
			c.Federation.NatsURL = cl.clientURL
			c.Federation.NatsOperatorSeedFile = cl.seedFile
			c.Federation.NatsSystemCreds = cl.sysCreds
			c.Federation.LeafURL = "nats-leaf://" + proxy.Addr()
			c.Federation.LinkDownAlert = time.Second
			c.Federation.StatusInterval = 200 * time.Millisecond
		}})
	}
	t1 := startT1()
	if !t1.App.Federation.IsHub() || t1.App.Federation.LeafAddr() != "" {
		t.Fatal("tier 1 on an external cluster: not a hub, or an embedded leaf listener")
	}
	t1.SeedWorld(nil)
	if _, err := t1.App.Registry.CreateSystem(ctx, seed, registry.System{ID: "xa-a", Name: "Camera xã A", Tier: 3,
		ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-a"}); err != nil {
		t.Fatal(err)
	}
	t1.User("admin", "so-khcn", "admin")
	admin := t1.Login("admin")

	a := startLower(t, storetest.SQLite(t), "site-a", 3, t1.Base, enrollToken(t, admin, "site-a", "xa-a"))
	// The leaf credential is a creds file (user JWT), 0600 in the data
	// folder; the sealed copy keeps no password.
	fi, err := os.Stat(filepath.Join(a.App.Cfg.DataDir, "federation-leaf.creds"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("leaf creds file: %v %v", fi, err)
	}
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM federation_nats_accounts WHERE site_id = 'site-a' AND leaf_user_key <> ''`); n != 1 {
		t.Fatalf("%d NATS accounts of site A at tier 1", n)
	}
	seedLower(t, a, "xa-a", 3)
	addCamera(t, a, "xa-a", "cam-a1", false)
	addCamera(t, a, "xa-a", "cam-a-secret", true)
	a.App.Federation.Kick()
	has := func(id string) bool { _, err := t1.App.Registry.GetCamera(ctx, id); return err == nil }
	waitFor(t, "inventory at tier 1", func() bool { return has("cam-a1") })
	waitFor(t, "link up", func() bool { return site(t, t1, "site-a").LinkState == "up" })
	if has("cam-a-secret") {
		t.Fatal("a classified camera reached tier 1")
	}
	var ask struct {
		OK bool `json:"ok"`
	}
	if st := admin.Do("GET", "/api/v1/federation/sites/site-a/remote-status", nil, &ask); st != 200 || !ask.OK {
		t.Fatalf("remote status of site A: %d %+v", st, ask)
	}

	// The leaf's allow-list holds at the cluster: no JetStream API of tier
	// 1's domain, no subject tier 1 listens to; a reply subject passes.
	checkLeafConfined(t, t1, a)

	// Cut the link: the cluster reports the leaf gone; changes wait at the
	// lower site and arrive once each when it returns.
	proxy.Cut()
	waitFor(t, "link down at tier 1", func() bool { return site(t, t1, "site-a").LinkState == "down" })
	waitFor(t, "link-down alert", func() bool {
		als, _ := t1.App.Federation.Alerts(ctx, "site-a", true)
		return len(als) == 1
	})
	const offline = 10
	for i := range offline {
		addCamera(t, a, "xa-a", fmt.Sprintf("cam-a-off-%02d", i), false)
	}
	if err := a.App.Registry.DeleteCamera(ctx, seed, "cam-a1"); err != nil {
		t.Fatal(err)
	}
	if has("cam-a-off-00") {
		t.Fatal("a change crossed a cut link")
	}
	proxy.Restore()
	a.App.Federation.Kick()
	headA := auditHead(t, a.App.DB)
	waitFor(t, "catch-up", func() bool { return site(t, t1, "site-a").AuditSeq >= headA })
	waitFor(t, "alert closed", func() bool {
		als, _ := t1.App.Federation.Alerts(ctx, "site-a", true)
		return len(als) == 0 && site(t, t1, "site-a").LinkState == "up"
	})
	for i := range offline {
		if !has(fmt.Sprintf("cam-a-off-%02d", i)) {
			t.Fatalf("cam-a-off-%02d lost", i)
		}
	}
	if has("cam-a1") {
		t.Fatal("delete not applied")
	}
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'camera.federated_create' AND object LIKE 'camera/cam-a-off-%'`); n != offline {
		t.Fatalf("%d federated creates at tier 1, want %d", n, offline)
	}
	if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM federation_audit WHERE site_id = 'site-a'`); int64(n) != site(t, t1, "site-a").AuditSeq {
		t.Fatalf("%d shipped audit rows, want %d", n, site(t, t1, "site-a").AuditSeq)
	}

	// Tier 1 restarts: it restores the site's account from its sealed seed
	// and goes on applying; the leaf, held by the cluster, stays up.
	t1.App.Close()
	t1 = startT1()
	admin = t1.Login("admin")
	addCamera(t, a, "xa-a", "cam-a-after", false)
	a.App.Federation.Kick()
	waitFor(t, "a change after tier 1's restart", func() bool { return has("cam-a-after") })
	if x := site(t, t1, "site-a"); x.LinkState != "up" {
		t.Fatalf("site A state %q after tier 1's restart", x.LinkState)
	}

	// Revoke: the cluster cuts the leaf at once and refuses it after.
	if st := admin.Do("DELETE", "/api/v1/federation/sites/site-a", nil, nil); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	waitFor(t, "site A cut off", func() bool { return !a.App.Federation.LinkUp() })
	if x := site(t, t1, "site-a"); x.LinkState != "revoked" {
		t.Fatalf("site A state %q", x.LinkState)
	}
	time.Sleep(3 * time.Second) // the lower site retries every second
	if a.App.Federation.LinkUp() {
		t.Fatal("a revoked site linked up again")
	}
	lz, err := cl.ns.Leafz(nil)
	if err != nil || len(lz.Leafs) != 0 {
		t.Fatalf("leaf connections at the cluster after revoke: %v %v", lz, err)
	}
}

// TestFederationExternalNATSDomain: a cluster whose JetStream domain is not
// tier 1's site id is refused when the first site is activated.
func TestFederationExternalNATSDomain(t *testing.T) {
	cl := startNatsCluster(t, "hub")
	t1 := apptest.Start(t, storetest.SQLite(t), apptest.Options{Mutate: func(c *config.Config) {
		c.Federation.NatsURL = cl.clientURL
		c.Federation.NatsOperatorSeedFile = cl.seedFile
		c.Federation.NatsSystemCreds = cl.sysCreds
		c.Federation.LeafURL = "nats-leaf://" + cl.leafAddr
	}})
	t1.SeedWorld(nil)
	if _, err := t1.App.Registry.CreateSystem(context.Background(), seed, registry.System{ID: "xa-a", Name: "Camera xã A", Tier: 3,
		ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-a"}); err != nil {
		t.Fatal(err)
	}
	t1.User("admin", "so-khcn", "admin")
	tok := enrollToken(t, t1.Login("admin"), "site-a", "xa-a")
	_, err := t1.App.Federation.Redeem(context.Background(), tok, "site-a", "test")
	if err == nil || !strings.Contains(err.Error(), "jetstream { domain: test-site }") {
		t.Fatalf("enrollment on a cluster of another JetStream domain: %v", err)
	}
}

// TestFederationExternalNATSPrivateCA: a cluster whose certificates a
// private CA signs is reached with federation.nats_ca, over TLS only.
func TestFederationExternalNATSPrivateCA(t *testing.T) {
	caPEM, cert := testCA(t)
	caFile := filepath.Join(t.TempDir(), "nats-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cl := startNatsClusterWith(t, "test-site", func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		o.TLS = true
	})
	t1 := apptest.Start(t, storetest.SQLite(t), apptest.Options{Mutate: func(c *config.Config) {
		c.Federation.NatsURL = cl.clientURL
		c.Federation.NatsOperatorSeedFile = cl.seedFile
		c.Federation.NatsSystemCreds = cl.sysCreds
		c.Federation.NatsCA = caFile
		c.Federation.LeafURL = "nats-leaf://" + cl.leafAddr
	}})
	t1.SeedWorld(nil)
	if _, err := t1.App.Registry.CreateSystem(context.Background(), seed, registry.System{ID: "xa-a", Name: "Camera xã A", Tier: 3,
		ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-a"}); err != nil {
		t.Fatal(err)
	}
	t1.User("admin", "so-khcn", "admin")
	tok := enrollToken(t, t1.Login("admin"), "site-a", "xa-a")
	// Enrolling pushes the site's account and opens tier 1's connection in
	// it: both through the CA-checked TLS connections.
	if _, err := t1.App.Federation.Redeem(context.Background(), tok, "site-a", "test"); err != nil {
		t.Fatalf("enrollment on a cluster with a private CA: %v", err)
	}
	cz, err := cl.ns.Connz(&server.ConnzOptions{})
	if err != nil || cz.NumConns < 2 {
		t.Fatalf("cluster connections: %v %+v", err, cz)
	}
	for _, c := range cz.Conns {
		if c.TLSVersion == "" {
			t.Fatalf("a connection to the cluster without TLS: %+v", c)
		}
	}
}

// testCA makes a CA and a server certificate for 127.0.0.1 it signs.
func testCA(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER := must(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey))
	ca := must(x509.ParseCertificate(caDER))
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ext-nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey))
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
