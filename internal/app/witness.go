package app

import (
	"context"

	"github.com/vigil-vms/vigil/internal/audit"
)

// openWitness anchors the audit head outside the database: the checkpoint
// file (always), the external witnesses configured (a second file on other
// storage, a remote syslog), and at a lower site tier 1 through the
// federation outbox.
func (a *App) openWitness() error {
	cfg := a.Cfg
	fw, err := audit.OpenFileWitness(cfg.AuditWitnessPath())
	if err != nil {
		return err
	}
	a.witnessClosers = append(a.witnessClosers, fw)
	last, _ := fw.Last(cfg.Site.ID)
	sinks := []audit.HeadSink{fw}
	if cfg.Audit.ExternalWitnessFile != "" {
		ext, err := audit.OpenFileWitness(cfg.Audit.ExternalWitnessFile)
		if err != nil {
			a.closeWitness()
			return err
		}
		a.witnessClosers = append(a.witnessClosers, ext)
		sinks = append(sinks, ext)
	}
	if cfg.Audit.WitnessSyslog != "" {
		sw, err := audit.NewSyslogWitness(cfg.Audit.WitnessSyslog)
		if err != nil {
			a.closeWitness()
			return err
		}
		a.witnessClosers = append(a.witnessClosers, sw)
		sinks = append(sinks, sw)
	}
	if cfg.Site.Tier > 1 {
		sinks = append(sinks, a.Federation)
	}
	a.Witness, err = a.Audit.NewWitness(a.DB, audit.WitnessOptions{Site: cfg.Site.ID, Every: int64(cfg.Audit.WitnessEvery),
		Interval: cfg.Audit.WitnessInterval, Sinks: sinks, Last: last, Logger: a.Log.With("room", "audit")})
	if err != nil {
		a.closeWitness()
	}
	return err
}

// startWitness witnesses the head as it is at start (a site upgraded from a
// version without witness gets its first head here), hands tier 1 the last
// head again (it may not have left before a stop), and runs the loop.
func (a *App) startWitness(ctx context.Context) {
	if _, _, err := a.Witness.Sync(ctx); err != nil {
		a.Log.Error("audit head could not be witnessed at start", "err", err)
	}
	if a.Cfg.Site.Tier > 1 {
		if h := a.Witness.Last(); h.Seq > 0 {
			_ = a.Federation.WriteHead(ctx, h)
		}
	}
	w := a.Witness
	a.wg.Add(1)
	go func() { defer a.wg.Done(); w.Run(ctx) }()
}

func (a *App) closeWitness() {
	for _, c := range a.witnessClosers {
		_ = c.Close()
	}
	a.witnessClosers = nil
}
