package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/vigil-vms/vigil/internal/events"
	"github.com/vigil-vms/vigil/internal/onvif"
)

// openEvents builds the analytics events and ONVIF rooms.
func (a *App) openEvents(log *slog.Logger) {
	cfg := a.Cfg.Events
	loc, err := time.LoadLocation(a.Cfg.Site.Timezone)
	if err != nil {
		loc = time.UTC
	}
	day := 24 * time.Hour
	a.Events = events.New(events.Options{DB: a.DB, Audit: a.Audit, Sealer: a.Sealer, Log: log.With("room", "events"),
		Metrics: a.Metrics, Retention: time.Duration(cfg.RetentionDays) * day,
		PersonalRetention: time.Duration(cfg.PersonalRetentionDays) * day, Location: loc})
	a.onvifBatch = a.Events.NewBatcher("onvif", 500, 50*time.Millisecond)
	a.ONVIF = onvif.New(onvif.Options{DB: a.DB, Audit: a.Audit, Sealer: a.Sealer, Registry: a.Registry, Log: log.With("room", "onvif"),
		PullTimeout: cfg.PullTimeout,
		Sink:        func(cameraID string, ns []onvif.Notification) { a.Events.IngestONVIF(ns, cameraID, a.onvifBatch) }})
}

// startEvents runs the pull points, the purge and the MQTT subscription.
func (a *App) startEvents(ctx context.Context) {
	a.wg.Add(2)
	go func() { defer a.wg.Done(); a.ONVIF.Run(ctx) }()
	go func() { defer a.wg.Done(); a.Events.RunPurge(ctx, time.Hour) }()
	cfg := a.Cfg.Events
	if cfg.MQTTURL == "" {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		m, err := a.Events.StartMQTT(ctx, events.MQTTOptions{Broker: cfg.MQTTURL, Prefix: cfg.MQTTPrefix,
			Username: cfg.MQTTUsername, Password: cfg.MQTTPassword, ClientID: "vigil-" + a.Cfg.Site.ID, QoS: 1})
		if err != nil {
			if ctx.Err() == nil {
				a.Log.Error("events: MQTT ingest not started", "broker", cfg.MQTTURL, "err", err)
			}
			return
		}
		a.Log.Info("events: MQTT ingest", "broker", cfg.MQTTURL, "topics", cfg.MQTTPrefix+"/<camera>")
		<-ctx.Done()
		m.Close()
	}()
}

// stopEvents flushes what the pull points queued (after the goroutines ended).
func (a *App) stopEvents() {
	if a.onvifBatch != nil {
		a.onvifBatch.Close()
		a.onvifBatch = nil
	}
}
