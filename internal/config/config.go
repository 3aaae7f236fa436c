// Package config loads a site's configuration: a YAML file plus VIGIL_…
// environment overrides. The regulation's rules are validation rules here
// (e.g. footage kept less than 30 days is an error, R-OPS-2): a site that
// breaks them does not start, and the error names the field and the rule.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is one site's configuration. The yaml names are the field names used
// in error messages and, upper-cased with dots as underscores and a VIGIL_
// prefix, the environment overrides (site.id → VIGIL_SITE_ID).
type Config struct {
	Site      Site      `yaml:"site"`
	Access    Access    `yaml:"access"`
	DataDir   string    `yaml:"data_dir"`
	Database  Database  `yaml:"database"`
	HTTP      HTTP      `yaml:"http"`
	RTSP      RTSP      `yaml:"rtsp"`
	Secrets   Secrets   `yaml:"secrets"`
	Auth      Auth      `yaml:"auth"`
	Audit     Audit     `yaml:"audit"`
	Recording Recording `yaml:"recording"`
	Log       Log       `yaml:"log"`
	Web       Web       `yaml:"web"`
	Public    Public    `yaml:"public"`
	// Federation is the link between tiers (internal/federation).
	Federation Federation `yaml:"federation"`
	// Ops is health, incidents and notifications (internal/health, internal/ops).
	Ops Ops `yaml:"ops"`
	// Events is analytics events and ONVIF (internal/events, internal/onvif).
	Events Events `yaml:"events"`
}

// Site says who this site is.
type Site struct {
	ID       string `yaml:"id"`
	Name     string `yaml:"name"`
	Tier     int    `yaml:"tier"`
	Province string `yaml:"province"`
	// Timezone is for display; storage is always UTC.
	Timezone string `yaml:"timezone"`
	// Language of user-facing messages by default: vi or en.
	Language string `yaml:"language"`
}

// Access names the organisation with the highest access (R-ACC-1). It is a
// setting because the department's name changes with reorganisations.
type Access struct {
	HighestOrg     string `yaml:"highest_org"`
	HighestOrgName string `yaml:"highest_org_name"`
}

// Database: empty DSN means the SQLite file in the data folder.
type Database struct {
	DSN string `yaml:"dsn"`
}

// HTTP is the API and console listener.
type HTTP struct {
	Listen string `yaml:"listen"`
	// TLS certificate files; with SelfSigned a certificate is made at first
	// start in the data folder. Plain HTTP is only allowed on loopback.
	TLSCert    string `yaml:"tls_cert"`
	TLSKey     string `yaml:"tls_key"`
	SelfSigned bool   `yaml:"self_signed"`
	// PublicURL is how browsers reach the console (for links in messages).
	PublicURL string `yaml:"public_url"`
	// MaxBodyBytes limits request bodies (CSV imports included).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// RTSP is the re-stream and push-in listener.
type RTSP struct {
	Listen string `yaml:"listen"`
}

// Secrets: the key that seals camera credentials and TOTP secrets at rest.
// Prefer VIGIL_SECRETS_KEY (base64 of 32 bytes) or a key file readable only
// by the service; without either a key file is created in the data folder.
type Secrets struct {
	Key     string `yaml:"key"`
	KeyFile string `yaml:"key_file"`
}

// Auth is the 724/QĐ-BTTTT account baseline.
type Auth struct {
	LockoutFailures      int           `yaml:"lockout_failures"`
	LockoutWindow        time.Duration `yaml:"lockout_window"`
	LockoutDuration      time.Duration `yaml:"lockout_duration"`
	AdminPasswordMaxAge  time.Duration `yaml:"admin_password_max_age"`
	RequireTOTPForAdmins bool          `yaml:"require_totp_for_admins"`
	SessionIdle          time.Duration `yaml:"session_idle"`
	SessionMax           time.Duration `yaml:"session_max"`
	StreamTokenTTL       time.Duration `yaml:"stream_token_ttl"`
	LoginRatePerMinute   int           `yaml:"login_rate_per_minute"`
}

// Audit: signed checkpoints every N entries or every interval, and the
// witnesses outside the database that keep the signed head (a log cut
// short in the database shows against them; see docs/design).
type Audit struct {
	CheckpointEvery    int           `yaml:"checkpoint_every"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// WitnessFile is the append-only file of signed heads (default
	// <data_dir>/audit-witness.jsonl); a head is witnessed every
	// WitnessEvery entries and every WitnessInterval while entries come.
	WitnessFile     string        `yaml:"witness_file"`
	WitnessEvery    int           `yaml:"witness_every"`
	WitnessInterval time.Duration `yaml:"witness_interval"`
	// External witnesses (tier 1's own heads; any site may set them): a
	// second file on other storage, and/or a remote syslog
	// (tcp://host:port or udp://host:port, RFC 5424).
	ExternalWitnessFile string `yaml:"external_witness_file"`
	WitnessSyslog       string `yaml:"witness_syslog"`
}

// Recording: retention below 30 days is refused (R-OPS-2) unless a legal
// override is stated, which is then audited at start.
type Recording struct {
	RetentionDays       int    `yaml:"retention_days"`
	LegalOverrideReason string `yaml:"legal_override_reason"`
	// Folders are the storage folders (name=path, comma-separated in the
	// environment); empty means <data_dir>/recordings as "disk1".
	Folders []string `yaml:"folders"`
	// DefaultMode for cameras without a policy: always or off.
	DefaultMode    string        `yaml:"default_mode"`
	SegmentLength  time.Duration `yaml:"segment_length"`
	FragmentLength time.Duration `yaml:"fragment_length"`
	// HighWaterPercent: disk use above which the disk guard acts.
	HighWaterPercent int `yaml:"high_water_percent"`
	// DiskFullPolicy once expired footage is gone: stop or delete_oldest.
	DiskFullPolicy    string        `yaml:"disk_full_policy"`
	ExportMaxDuration time.Duration `yaml:"export_max_duration"`
	// ReserveBytes and ReservePercent are kept free on every recording
	// volume for the database beside it (the larger of the two): the
	// recorder stops writing before it eats into them. ReserveBytes 0 is
	// automatic (512 MiB, at most a tenth of the volume), -1 none;
	// ReservePercent 0 is none.
	ReserveBytes   int64 `yaml:"reserve_bytes"`
	ReservePercent int   `yaml:"reserve_percent"`
}

// Public is the read-only endpoint for the citizen app (R-PUB-1, R-PUB-2):
// a listener of its own, no cookies, CORS for the app's origins, limits per
// client address and overall. An empty listen disables it.
type Public struct {
	Listen string `yaml:"listen"`
	// TLS certificate files; plain HTTP is only allowed on loopback or
	// behind trusted_proxies (a CDN or reverse proxy that terminates TLS).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// AllowedOrigins are the app's web origins (scheme://host[:port]), or "*".
	AllowedOrigins []string `yaml:"allowed_origins"`
	// TrustedProxies (IPs or CIDRs) may name the client in X-Forwarded-For.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// SnapshotInterval: a camera's JPEG is made at most this often.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
	// LiveVariant is the stream served live (sub keeps viewers' bandwidth low).
	LiveVariant string `yaml:"live_variant"`
	// RatePerSecond and Burst limit each client address (an LL-HLS player
	// makes about 5–10 requests a second).
	RatePerSecond int `yaml:"rate_per_second"`
	Burst         int `yaml:"burst"`
	// GlobalRatePerSecond and MaxInflight cap the whole endpoint.
	GlobalRatePerSecond int `yaml:"global_rate_per_second"`
	MaxInflight         int `yaml:"max_inflight"`
	// DecisionTTL is how long "camera X is public" is kept between registry
	// changes (changes made through the API apply at once); 0 asks the
	// database on every request.
	DecisionTTL time.Duration `yaml:"decision_ttl"`
}

// Federation is the link between tiers (R-FED-1..4): an embedded NATS
// server with JetStream under the data folder, its domain the site id. Tier
// 1 listens for lower sites' leaf connections; a lower site dials out with
// the credentials from `vigil enroll` (or enroll_token + upstream).
type Federation struct {
	Enabled bool `yaml:"enabled"`
	// LeafListen (tier 1): where lower sites connect; empty = no listener.
	LeafListen string `yaml:"leaf_listen"`
	// LeafURL (tier 1): the URL given to enrolling sites; default from
	// leaf_listen (tls:// when leaf_tls_cert is set).
	LeafURL     string `yaml:"leaf_url"`
	LeafTLSCert string `yaml:"leaf_tls_cert"`
	LeafTLSKey  string `yaml:"leaf_tls_key"`
	// LeafCA (lower site): CA file that signs tier 1's leaf certificate.
	LeafCA string `yaml:"leaf_ca"`
	// NatsURL (tier 1, large sites): an external NATS cluster (client
	// URLs, comma-separated) instead of the embedded server. The cluster
	// runs in operator mode with a full account resolver and JetStream
	// domain = site.id; lower sites dial its leaf listener (leaf_url).
	NatsURL string `yaml:"nats_url"`
	// NatsOperatorSeedFile (with nats_url): file holding the operator
	// signing key seed the cluster trusts (read, never logged); tier 1
	// signs each enrolled site's account JWT with it.
	NatsOperatorSeedFile string `yaml:"nats_operator_seed_file"`
	// NatsSystemCreds (with nats_url): creds file of a user of the
	// cluster's system account (pushes account JWTs, reads leaf links).
	NatsSystemCreds string `yaml:"nats_system_creds"`
	// NatsCA (with nats_url): PEM file of the CA that signs the cluster's
	// certificates; setting it makes every connection to the cluster TLS.
	// Empty: tls:// URLs are checked against the system's CAs.
	NatsCA string `yaml:"nats_ca"`
	// Upstream and EnrollToken (lower site): enroll at first start.
	Upstream    string `yaml:"upstream"`
	EnrollToken string `yaml:"enroll_token"`
	// ShareSystems (lower site): system ids shared upward; empty = every
	// system of this site.
	ShareSystems []string `yaml:"share_systems"`
	// LinkDownAlert (tier 1): a link down this long opens an alert.
	LinkDownAlert time.Duration `yaml:"link_down_alert"`
	// StatusInterval: how often camera status and link state are checked.
	StatusInterval time.Duration `yaml:"status_interval"`
	// ConnectDeadline: a camera installed or changed must reach tier 1
	// within this (R-FED-2: 5 days).
	ConnectDeadline time.Duration `yaml:"connect_deadline"`
	// RelayURL (tier 1): this site's RTSP push-in as lower sites reach it,
	// e.g. rtsp://vigil.example.gov.vn:8554; lower sites push federated
	// cameras there on demand. Default: from rtsp.listen.
	RelayURL string `yaml:"relay_url"`
}

// Web is the operator console's settings.
type Web struct {
	// MapTileURL is an XYZ tile template for the console's map, e.g.
	// https://tiles.example.vn/{z}/{x}/{y}.png (no CDN by default: empty
	// shows camera positions on a plain background).
	MapTileURL string `yaml:"map_tile_url"`
}

// Log settings.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"` // text or json
}

// Default is the configuration a site gets for every field it leaves out.
func Default() Config {
	return Config{
		Site:    Site{ID: "site", Name: "Vigil", Tier: 1, Timezone: "Asia/Ho_Chi_Minh", Language: "vi"},
		Access:  Access{HighestOrg: "so-khcn", HighestOrgName: "Sở Khoa học và Công nghệ"},
		DataDir: "./data",
		HTTP:    HTTP{Listen: "127.0.0.1:8443", MaxBodyBytes: 8 << 20},
		RTSP:    RTSP{Listen: "127.0.0.1:8554"},
		Auth: Auth{
			LockoutFailures: 5, LockoutWindow: 30 * time.Second, LockoutDuration: 5 * time.Minute,
			AdminPasswordMaxAge: 90 * 24 * time.Hour, SessionIdle: 30 * time.Minute, SessionMax: 12 * time.Hour,
			StreamTokenTTL: 5 * time.Minute, LoginRatePerMinute: 30,
		},
		Audit:     Audit{CheckpointEvery: 1000, CheckpointInterval: 5 * time.Minute, WitnessEvery: 100, WitnessInterval: 10 * time.Second},
		Recording: Recording{RetentionDays: 30, DefaultMode: "always", SegmentLength: 5 * time.Minute, FragmentLength: time.Second, HighWaterPercent: 90, DiskFullPolicy: "stop", ExportMaxDuration: time.Hour, ReservePercent: 1},
		Log:       Log{Level: "info", Format: "text"},
		Public: Public{SnapshotInterval: 10 * time.Second, LiveVariant: "sub", RatePerSecond: 20, Burst: 100,
			GlobalRatePerSecond: 5000, MaxInflight: 4096, DecisionTTL: time.Second},
		Federation: Federation{Enabled: true, LinkDownAlert: 5 * time.Minute, StatusInterval: 5 * time.Second,
			ConnectDeadline: 5 * 24 * time.Hour},
		Ops:    defaultOps(),
		Events: defaultEvents(),
	}
}

// FieldError names the field and the rule it breaks.
type FieldError struct {
	Field string
	Rule  string
}

func (e *FieldError) Error() string { return "config: " + e.Field + ": " + e.Rule }

// Errors is every problem found, so an operator fixes them in one pass.
type Errors []*FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Load reads path (may be empty: defaults only), applies environment
// overrides from environ (os.Environ() form) and validates.
func Load(path string, environ []string) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: read %s: %w", path, err)
		}
		if err := Parse(data, &c); err != nil {
			return c, err
		}
	}
	if err := ApplyEnv(&c, environ); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Parse decodes YAML into c; unknown fields are errors (a typo in a key must
// not silently leave a default in force).
func Parse(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, errEOF) || err.Error() == "EOF" {
			return nil
		}
		return fmt.Errorf("config: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

var errEOF = errors.New("EOF")

// ApplyEnv sets every field that has a VIGIL_… variable in environ.
func ApplyEnv(c *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "VIGIL_") {
			env[k] = v
		}
	}
	if len(env) == 0 {
		return nil
	}
	var errs Errors
	walk(reflect.ValueOf(c).Elem(), "", func(field string, v reflect.Value) {
		name := "VIGIL_" + strings.ToUpper(strings.ReplaceAll(field, ".", "_"))
		raw, ok := env[name]
		if !ok {
			return
		}
		if err := setFromString(v, raw); err != nil {
			errs = append(errs, &FieldError{Field: field, Rule: fmt.Sprintf("from %s: %v", name, err)})
		}
	})
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// EnvNames lists every supported environment variable (for docs and --help).
func EnvNames() []string {
	var out []string
	c := Default()
	walk(reflect.ValueOf(&c).Elem(), "", func(field string, _ reflect.Value) {
		out = append(out, "VIGIL_"+strings.ToUpper(strings.ReplaceAll(field, ".", "_")))
	})
	return out
}

func walk(v reflect.Value, prefix string, fn func(field string, v reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := tag
		if prefix != "" {
			name = prefix + "." + tag
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
			walk(fv, name, fn)
			continue
		}
		fn(name, fv)
	}
}

func setFromString(v reflect.Value, raw string) error {
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("want a duration like 30s, 5m, 2160h")
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number")
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		v.SetBool(b)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported type %s", v.Type())
		}
		var list []string // comma-separated
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported type %s", v.Kind())
	}
	return nil
}

var siteIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate checks every field and returns all problems found.
func (c *Config) Validate() error {
	var errs Errors
	add := func(field, rule string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Rule: fmt.Sprintf(rule, args...)})
	}
	if !siteIDRe.MatchString(c.Site.ID) {
		add("site.id", "must be 1–63 lowercase letters, digits or '-', starting with a letter or digit (got %q)", c.Site.ID)
	}
	if strings.TrimSpace(c.Site.Name) == "" {
		add("site.name", "must not be empty")
	}
	if c.Site.Tier < 1 || c.Site.Tier > 3 {
		add("site.tier", "must be 1, 2 or 3 (got %d)", c.Site.Tier)
	}
	if _, err := time.LoadLocation(c.Site.Timezone); err != nil {
		add("site.timezone", "must be an IANA time zone such as Asia/Ho_Chi_Minh (got %q)", c.Site.Timezone)
	}
	if c.Site.Language != "vi" && c.Site.Language != "en" {
		add("site.language", "must be vi or en (got %q)", c.Site.Language)
	}
	if !regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`).MatchString(c.Access.HighestOrg) {
		add("access.highest_org", "must be the id of the organisation with the highest access (R-ACC-1), lowercase letters, digits, '.', '_' or '-' (got %q)", c.Access.HighestOrg)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir", "must not be empty")
	}
	if c.Database.DSN != "" && !strings.HasPrefix(c.Database.DSN, "postgres://") && !strings.HasPrefix(c.Database.DSN, "postgresql://") {
		add("database.dsn", "must be a postgres:// URL, or empty for the embedded SQLite file")
	}
	checkAddr := func(field, addr string) (host string, ok bool) {
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			add(field, "must be host:port (got %q)", addr)
			return "", false
		}
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			add(field, "port must be 0–65535 (got %q)", p)
			return "", false
		}
		return h, true
	}
	if host, ok := checkAddr("http.listen", c.HTTP.Listen); ok {
		tls := c.HTTP.SelfSigned || (c.HTTP.TLSCert != "" && c.HTTP.TLSKey != "")
		if !tls && !isLoopback(host) {
			add("http.listen", "plain HTTP is only allowed on loopback; set http.tls_cert and http.tls_key, or http.self_signed")
		}
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		add("http.tls_cert", "tls_cert and tls_key go together")
	}
	if c.HTTP.MaxBodyBytes < 1024 || c.HTTP.MaxBodyBytes > 1<<30 {
		add("http.max_body_bytes", "must be between 1 KiB and 1 GiB (got %d)", c.HTTP.MaxBodyBytes)
	}
	checkAddr("rtsp.listen", c.RTSP.Listen)
	if c.Auth.LockoutFailures < 1 || c.Auth.LockoutFailures > 100 {
		add("auth.lockout_failures", "must be 1–100 (got %d)", c.Auth.LockoutFailures)
	}
	if c.Auth.LockoutWindow <= 0 {
		add("auth.lockout_window", "must be positive")
	}
	if c.Auth.LockoutDuration < time.Minute {
		add("auth.lockout_duration", "must be at least 1m (Decision 724/QĐ-BTTTT locks for 5m)")
	}
	if c.Auth.AdminPasswordMaxAge <= 0 || c.Auth.AdminPasswordMaxAge > 365*24*time.Hour {
		add("auth.admin_password_max_age", "must be between 1h and 8760h: administrator passwords are changed regularly (R-ACC-6)")
	}
	if c.Auth.SessionIdle <= 0 || c.Auth.SessionMax < c.Auth.SessionIdle {
		add("auth.session_idle", "must be positive and not longer than auth.session_max")
	}
	if c.Auth.StreamTokenTTL < 10*time.Second || c.Auth.StreamTokenTTL > time.Hour {
		add("auth.stream_token_ttl", "must be between 10s and 1h")
	}
	if c.Auth.LoginRatePerMinute < 1 {
		add("auth.login_rate_per_minute", "must be at least 1")
	}
	if c.Audit.CheckpointEvery < 1 {
		add("audit.checkpoint_every", "must be at least 1")
	}
	if c.Audit.CheckpointInterval < time.Second {
		add("audit.checkpoint_interval", "must be at least 1s")
	}
	if c.Audit.WitnessEvery < 1 || c.Audit.WitnessEvery > 100 {
		add("audit.witness_every", "must be between 1 and 100 entries")
	}
	if c.Audit.WitnessInterval < time.Second || c.Audit.WitnessInterval > 10*time.Second {
		add("audit.witness_interval", "must be between 1s and 10s")
	}
	if x := c.Audit.ExternalWitnessFile; x != "" && filepath.Clean(x) == filepath.Clean(c.AuditWitnessPath()) {
		add("audit.external_witness_file", "must be another file than audit.witness_file (on other storage)")
	}
	if c.Audit.WitnessSyslog != "" {
		if u, err := url.Parse(c.Audit.WitnessSyslog); err != nil || (u.Scheme != "tcp" && u.Scheme != "udp") || u.Port() == "" || u.Hostname() == "" {
			add("audit.witness_syslog", "want tcp://host:port or udp://host:port (got %q)", c.Audit.WitnessSyslog)
		}
	}
	if c.Recording.RetentionDays < 30 && strings.TrimSpace(c.Recording.LegalOverrideReason) == "" {
		add("recording.retention_days", "footage must be kept at least 30 days (R-OPS-2, Đ11); a shorter period needs recording.legal_override_reason (got %d)", c.Recording.RetentionDays)
	}
	if c.Recording.RetentionDays < 1 {
		add("recording.retention_days", "must be at least 1")
	}
	if m := c.Recording.DefaultMode; m != "always" && m != "off" {
		add("recording.default_mode", "must be always or off (got %q)", m)
	}
	if c.Recording.SegmentLength < time.Second || c.Recording.SegmentLength > time.Hour {
		add("recording.segment_length", "must be between 1s and 1h")
	}
	if c.Recording.FragmentLength < 100*time.Millisecond || c.Recording.FragmentLength > 10*time.Second {
		add("recording.fragment_length", "must be between 100ms and 10s")
	}
	if c.Recording.HighWaterPercent < 50 || c.Recording.HighWaterPercent > 99 {
		add("recording.high_water_percent", "must be between 50 and 99")
	}
	if c.Recording.ReserveBytes < -1 {
		add("recording.reserve_bytes", "must be -1 (none), 0 (automatic) or a number of bytes (got %d)", c.Recording.ReserveBytes)
	}
	if c.Recording.ReservePercent < 0 || c.Recording.ReservePercent > 50 {
		add("recording.reserve_percent", "must be between 0 and 50 (got %d)", c.Recording.ReservePercent)
	}
	if p := c.Recording.DiskFullPolicy; p != "stop" && p != "delete_oldest" {
		add("recording.disk_full_policy", "must be stop or delete_oldest (got %q)", p)
	}
	if c.Recording.ExportMaxDuration < time.Minute || c.Recording.ExportMaxDuration > 24*time.Hour {
		add("recording.export_max_duration", "must be between 1m and 24h")
	}
	for _, f := range c.Recording.Folders {
		if n, p, ok := strings.Cut(f, "="); !ok || n == "" || p == "" {
			add("recording.folders", "each folder is name=path (got %q)", f)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error (got %q)", c.Log.Level)
	}
	if t := c.Web.MapTileURL; t != "" {
		u, err := url.Parse(strings.NewReplacer("{", "", "}", "").Replace(t))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			!strings.Contains(t, "{z}") || !strings.Contains(t, "{x}") || !strings.Contains(t, "{y}") {
			add("web.map_tile_url", "must be an http(s) URL template with {z}, {x} and {y} (got %q)", t)
		}
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format", "must be text or json (got %q)", c.Log.Format)
	}
	c.validatePublic(add, checkAddr)
	c.validateFederation(add, checkAddr)
	c.validateOps(add)
	c.validateEvents(add)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SQLitePath is the embedded database file.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "vigil.db") }

// AuditWitnessPath is the audit head witness file (audit.witness_file, or
// audit-witness.jsonl in the data folder).
func (c *Config) AuditWitnessPath() string {
	if c.Audit.WitnessFile != "" {
		return c.Audit.WitnessFile
	}
	return filepath.Join(c.DataDir, "audit-witness.jsonl")
}

// Location is the display time zone.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Site.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// validatePublic checks the public: section (R-PUB-2: the endpoint faces the
// internet, so its limits must exist and its origins must be exact).
func (c *Config) validatePublic(add func(field, rule string, args ...any), checkAddr func(field, addr string) (string, bool)) {
	p := c.Public
	if p.Listen != "" {
		if host, ok := checkAddr("public.listen", p.Listen); ok {
			tls := p.TLSCert != "" && p.TLSKey != ""
			if !tls && !isLoopback(host) && len(p.TrustedProxies) == 0 {
				add("public.listen", "plain HTTP is only allowed on loopback; set public.tls_cert and public.tls_key, or public.trusted_proxies for the CDN/proxy that terminates TLS")
			}
			for _, other := range []struct{ field, addr string }{{"http.listen", c.HTTP.Listen}, {"rtsp.listen", c.RTSP.Listen}} {
				if sameListen(p.Listen, other.addr) {
					add("public.listen", "must be its own address, not the same as %s (%s): nothing else of the site may be reachable through it", other.field, other.addr)
				}
			}
		}
	}
	if (p.TLSCert == "") != (p.TLSKey == "") {
		add("public.tls_cert", "tls_cert and tls_key go together")
	}
	for i, o := range p.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			add(fmt.Sprintf("public.allowed_origins[%d]", i), "must be an origin like https://app.example.vn (scheme and host, no path), or \"*\" (got %q)", o)
		}
	}
	for i, tp := range p.TrustedProxies {
		if _, err := netip.ParsePrefix(tp); err != nil {
			if _, err := netip.ParseAddr(tp); err != nil {
				add(fmt.Sprintf("public.trusted_proxies[%d]", i), "must be an IP address or CIDR such as 10.0.0.0/8 (got %q)", tp)
			}
		}
	}
	if p.SnapshotInterval < time.Second || p.SnapshotInterval > 10*time.Minute {
		add("public.snapshot_interval", "must be between 1s and 10m (got %s)", p.SnapshotInterval)
	}
	if p.LiveVariant != "main" && p.LiveVariant != "sub" {
		add("public.live_variant", "must be main or sub (got %q)", p.LiveVariant)
	}
	if p.RatePerSecond < 1 || p.RatePerSecond > 1000000 {
		add("public.rate_per_second", "must be 1–1000000 requests per second per client address (got %d)", p.RatePerSecond)
	}
	if p.Burst < 1 || p.Burst > 1000000 {
		add("public.burst", "must be 1–1000000 (got %d)", p.Burst)
	}
	if p.GlobalRatePerSecond < p.RatePerSecond || p.GlobalRatePerSecond > 10000000 {
		add("public.global_rate_per_second", "must be at least public.rate_per_second and at most 10000000 (got %d)", p.GlobalRatePerSecond)
	}
	if p.MaxInflight < 1 || p.MaxInflight > 1000000 {
		add("public.max_inflight", "must be 1–1000000 concurrent requests (got %d)", p.MaxInflight)
	}
	if p.DecisionTTL < 0 || p.DecisionTTL > 5*time.Second {
		add("public.decision_ttl", "must be between 0 and 5s: a camera taken off public sharing must disappear at once (got %s)", p.DecisionTTL)
	}
}

// sameListen reports whether two host:port addresses would collide (the
// same port on the same or a wildcard host); port 0 never collides.
func sameListen(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wild(ha) || wild(hb)
}

// validateFederation checks the federation: section.
func (c *Config) validateFederation(add func(field, rule string, args ...any), checkAddr func(field, addr string) (string, bool)) {
	f := &c.Federation
	if f.LeafListen != "" {
		if c.Site.Tier != 1 {
			add("federation.leaf_listen", "only a tier-1 site accepts lower sites (site.tier is %d)", c.Site.Tier)
		}
		if host, ok := checkAddr("federation.leaf_listen", f.LeafListen); ok && f.LeafTLSCert == "" && !isLoopback(host) {
			add("federation.leaf_listen", "a leaf link off loopback must use TLS; set federation.leaf_tls_cert and federation.leaf_tls_key")
		}
	}
	if (f.LeafTLSCert == "") != (f.LeafTLSKey == "") {
		add("federation.leaf_tls_cert", "leaf_tls_cert and leaf_tls_key go together")
	}
	c.validateExternalNATS(add)
	if (f.Upstream == "") != (f.EnrollToken == "") {
		add("federation.enroll_token", "upstream and enroll_token go together")
	}
	if f.Upstream != "" && !strings.HasPrefix(f.Upstream, "https://") && !strings.HasPrefix(f.Upstream, "http://") {
		add("federation.upstream", "must be the http(s):// URL of the tier-1 site (got %q)", f.Upstream)
	}
	if f.EnrollToken != "" && c.Site.Tier == 1 {
		add("federation.enroll_token", "a tier-1 site does not enroll with another site")
	}
	if f.LinkDownAlert < time.Second {
		add("federation.link_down_alert", "must be at least 1s")
	}
	if f.StatusInterval < 100*time.Millisecond || f.StatusInterval > 10*time.Minute {
		add("federation.status_interval", "must be between 100ms and 10m")
	}
	if f.ConnectDeadline < time.Minute || f.ConnectDeadline > 5*24*time.Hour {
		add("federation.connect_deadline", "must be between 1m and 120h: a camera is connected to tier 1 within 5 days (R-FED-2)")
	}
}

// validateExternalNATS checks nats_url and what goes with it.
func (c *Config) validateExternalNATS(add func(field, rule string, args ...any)) {
	f := &c.Federation
	if f.NatsURL == "" {
		if f.NatsOperatorSeedFile != "" {
			add("federation.nats_operator_seed_file", "only with federation.nats_url")
		}
		if f.NatsSystemCreds != "" {
			add("federation.nats_system_creds", "only with federation.nats_url")
		}
		if f.NatsCA != "" {
			add("federation.nats_ca", "only with federation.nats_url")
		}
		return
	}
	if c.Site.Tier != 1 {
		add("federation.nats_url", "only a tier-1 site uses an external NATS cluster (site.tier is %d)", c.Site.Tier)
	}
	if f.LeafListen != "" {
		add("federation.nats_url", "nats_url and leaf_listen exclude each other: with an external cluster lower sites dial the cluster's leaf listener")
	}
	if f.LeafURL == "" {
		add("federation.leaf_url", "required with nats_url: the URL lower sites dial, the external cluster's leaf listener")
	}
	for _, u := range strings.Split(f.NatsURL, ",") {
		u = strings.TrimSpace(u)
		ok := false
		for _, p := range []string{"nats://", "tls://", "ws://", "wss://"} {
			ok = ok || (strings.HasPrefix(u, p) && len(u) > len(p))
		}
		if !ok {
			add("federation.nats_url", "must be nats://, tls://, ws:// or wss:// URLs, comma-separated (got %q)", u)
			break
		}
	}
	if f.NatsOperatorSeedFile == "" {
		add("federation.nats_operator_seed_file", "required with nats_url: the operator signing key seed the cluster trusts")
	}
	if f.NatsSystemCreds == "" {
		add("federation.nats_system_creds", "required with nats_url: creds of a system account user of the cluster")
	}
}
