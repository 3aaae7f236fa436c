package config

import (
	"net/url"
	"time"
)

// Events configures the analytics events room and ONVIF (internal/events,
// internal/onvif; R-CAM-1).
type Events struct {
	// RetentionDays keeps non-personal events (counts, crowd, intrusion)
	// this long; PersonalRetentionDays keeps plates and faces (personal
	// data) this long, and no longer than RetentionDays. 0 = forever.
	RetentionDays         int `yaml:"retention_days"`
	PersonalRetentionDays int `yaml:"personal_retention_days"`
	// MQTTURL, if set, subscribes to <mqtt_prefix>/<camera id> on that
	// broker (tcp://host:1883).
	MQTTURL      string `yaml:"mqtt_url"`
	MQTTPrefix   string `yaml:"mqtt_prefix"`
	MQTTUsername string `yaml:"mqtt_username"`
	MQTTPassword string `yaml:"mqtt_password"`
	// DiscoveryTarget is where WS-Discovery probes go (the multicast group
	// by default); DiscoveryTimeout how long answers are collected.
	DiscoveryTarget  string        `yaml:"discovery_target"`
	DiscoveryTimeout time.Duration `yaml:"discovery_timeout"`
	// PullTimeout is the ONVIF PullMessages wait.
	PullTimeout time.Duration `yaml:"pull_timeout"`
}

func defaultEvents() Events {
	return Events{RetentionDays: 90, PersonalRetentionDays: 30, MQTTPrefix: "vigil/events",
		DiscoveryTarget: "239.255.255.250:3702", DiscoveryTimeout: 3 * time.Second, PullTimeout: 5 * time.Second}
}

func (c *Config) validateEvents(add func(field, rule string, args ...any)) {
	e := c.Events
	if e.RetentionDays < 0 || e.RetentionDays > 3650 {
		add("events.retention_days", "must be between 0 (forever) and 3650 (got %d)", e.RetentionDays)
	}
	if e.PersonalRetentionDays < 1 || e.PersonalRetentionDays > 3650 {
		add("events.personal_retention_days", "must be between 1 and 3650: personal data (plates, faces) is kept only for a stated period (got %d)", e.PersonalRetentionDays)
	}
	if e.RetentionDays > 0 && e.PersonalRetentionDays > e.RetentionDays {
		add("events.personal_retention_days", "must not exceed events.retention_days (%d > %d)", e.PersonalRetentionDays, e.RetentionDays)
	}
	if e.MQTTURL != "" {
		u, err := url.Parse(e.MQTTURL)
		if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			add("events.mqtt_url", "must be a broker URL such as tcp://127.0.0.1:1883 (got %q)", e.MQTTURL)
		}
	}
	if e.MQTTPrefix == "" || len(e.MQTTPrefix) > 200 {
		add("events.mqtt_prefix", "must be 1–200 characters")
	}
	for _, r := range e.MQTTPrefix {
		if r == '+' || r == '#' {
			add("events.mqtt_prefix", "must not contain MQTT wildcards (got %q)", e.MQTTPrefix)
			break
		}
	}
	if e.DiscoveryTimeout < 100*time.Millisecond || e.DiscoveryTimeout > time.Minute {
		add("events.discovery_timeout", "must be between 100ms and 1m (got %s)", e.DiscoveryTimeout)
	}
	if e.PullTimeout < time.Second || e.PullTimeout > time.Minute {
		add("events.pull_timeout", "must be between 1s and 1m (got %s)", e.PullTimeout)
	}
}
