package config

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Ops configures health sampling, incidents (R-OPS-1) and their
// notifications, and account reviews (R-ACC-5).
type Ops struct {
	// SampleInterval: how often camera status is sampled and incidents are
	// escalated.
	SampleInterval time.Duration `yaml:"sample_interval"`
	// OfflineAfter: a camera down this long opens an automatic incident.
	OfflineAfter time.Duration `yaml:"offline_after"`
	// IncidentDeadline: detection + this is an incident's deadline; at most
	// 24h (R-OPS-1). CategoryDeadlines may set a shorter one per category.
	IncidentDeadline  time.Duration            `yaml:"incident_deadline"`
	CategoryDeadlines map[string]time.Duration `yaml:"category_deadlines"`
	// EscalateBefore: unresolved incidents escalate this long before their
	// deadline, and again at it.
	EscalateBefore time.Duration `yaml:"escalate_before"`
	// InactiveDays: accounts without a login this long are flagged in a
	// review campaign.
	InactiveDays int `yaml:"inactive_days"`
	// Notifications: a webhook (JSON POST, HMAC-SHA256 in X-Vigil-Signature
	// when webhook_secret is set) and/or e-mail over SMTP.
	WebhookURL    string `yaml:"webhook_url"`
	WebhookSecret string `yaml:"webhook_secret"`
	SMTPAddr      string `yaml:"smtp_addr"`
	SMTPFrom      string `yaml:"smtp_from"`
	// SMTPTo is a comma-separated list of recipients.
	SMTPTo            string        `yaml:"smtp_to"`
	SMTPUser          string        `yaml:"smtp_user"`
	SMTPPassword      string        `yaml:"smtp_password"`
	NotifyRetryMin    time.Duration `yaml:"notify_retry_min"`
	NotifyRetryMax    time.Duration `yaml:"notify_retry_max"`
	NotifyMaxAttempts int           `yaml:"notify_max_attempts"`
}

func defaultOps() Ops {
	return Ops{SampleInterval: 10 * time.Second, OfflineAfter: 2 * time.Minute, IncidentDeadline: 24 * time.Hour,
		EscalateBefore: 4 * time.Hour, InactiveDays: 90, NotifyRetryMin: 5 * time.Second, NotifyRetryMax: 15 * time.Minute,
		NotifyMaxAttempts: 10}
}

// IncidentCategories are the categories a deadline may be set for (the
// health room's list).
var IncidentCategories = []string{"camera_offline", "no_frames", "recording_stopped", "link_down", "storage",
	"camera_damaged", "image_quality", "power", "network", "security", "other"}

// SMTPRecipients splits ops.smtp_to.
func (o Ops) SMTPRecipients() []string {
	var out []string
	for _, p := range strings.Split(o.SMTPTo, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var mailRe = regexp.MustCompile(`^[^@\s<>,]+@[^@\s<>,]+$`)

func (c *Config) validateOps(add func(field, rule string, args ...any)) {
	o := c.Ops
	if o.SampleInterval < time.Second || o.SampleInterval > 10*time.Minute {
		add("ops.sample_interval", "must be between 1s and 10m (got %s)", o.SampleInterval)
	}
	if o.OfflineAfter < time.Second || o.OfflineAfter > 24*time.Hour {
		add("ops.offline_after", "must be between 1s and 24h (got %s)", o.OfflineAfter)
	}
	if o.IncidentDeadline < time.Hour || o.IncidentDeadline > 24*time.Hour {
		add("ops.incident_deadline", "must be between 1h and 24h: a fault is fixed within 24 hours of its detection (R-OPS-1) (got %s)", o.IncidentDeadline)
	}
	for k, d := range o.CategoryDeadlines {
		known := false
		for _, cat := range IncidentCategories {
			known = known || cat == k
		}
		if !known {
			add("ops.category_deadlines."+k, "unknown category; known: %s", strings.Join(IncidentCategories, ", "))
		} else if d < time.Hour || d > 24*time.Hour {
			add("ops.category_deadlines."+k, "must be between 1h and 24h (R-OPS-1) (got %s)", d)
		}
	}
	if o.EscalateBefore <= 0 || o.EscalateBefore >= o.IncidentDeadline {
		add("ops.escalate_before", "must be positive and shorter than ops.incident_deadline (got %s)", o.EscalateBefore)
	}
	if o.InactiveDays < 1 || o.InactiveDays > 3650 {
		add("ops.inactive_days", "must be 1–3650 (got %d)", o.InactiveDays)
	}
	if o.WebhookURL != "" {
		u, err := url.Parse(o.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("ops.webhook_url", "must be an http:// or https:// URL")
		}
	}
	if o.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(o.SMTPAddr); err != nil {
			add("ops.smtp_addr", "must be host:port (got %q)", o.SMTPAddr)
		}
		if !mailRe.MatchString(o.SMTPFrom) {
			add("ops.smtp_from", "must be an e-mail address when ops.smtp_addr is set")
		}
		rs := o.SMTPRecipients()
		if len(rs) == 0 {
			add("ops.smtp_to", "must list at least one recipient when ops.smtp_addr is set")
		}
		for _, r := range rs {
			if !mailRe.MatchString(r) {
				add("ops.smtp_to", "%q is not an e-mail address", r)
			}
		}
	}
	if o.NotifyRetryMin < time.Second || o.NotifyRetryMax < o.NotifyRetryMin {
		add("ops.notify_retry_min", "must be at least 1s and not above ops.notify_retry_max")
	}
	if o.NotifyMaxAttempts < 1 || o.NotifyMaxAttempts > 100 {
		add("ops.notify_max_attempts", "must be 1–100 (got %d)", o.NotifyMaxAttempts)
	}
}
