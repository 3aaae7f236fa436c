package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/app"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/config"
)

// runVerify runs `vigil audit verify ARGS` in process and returns what it
// printed and its error.
func runVerify(t *testing.T, cfg config.Config, args ...string) (string, error) {
	t.Helper()
	cmd := auditCmd(func() (config.Config, error) { return cfg, nil })
	return runCLI(t, cmd, append([]string{"verify"}, args...)...)
}

// TestAuditVerifyCLI: the shell's verify holds the database to the witness
// file the site wrote, and names the entries cut off.
func TestAuditVerifyCLI(t *testing.T) {
	cfg := config.Default()
	cfg.Site.ID = "tinh"
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Listen, cfg.RTSP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Audit.ExternalWitnessFile = t.TempDir() + "/other-storage/heads.jsonl"
	ctx := context.Background()
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler), app.Options{Argon2: auth.TestArgon2})
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]audit.Entry, 250)
	for i := range batch {
		batch[i] = audit.Entry{ActorID: "u-1", Actor: "Nguyễn Văn An", Action: "camera.update", Object: "camera/c-1", Outcome: audit.OK}
	}
	if _, err := a.Audit.AppendBatch(ctx, a.DB.Q(), batch); err != nil {
		t.Fatal(err)
	}
	a.Close() // witnesses the head at stop

	out, err := runVerify(t, cfg)
	if err != nil || !strings.Contains(out, "Nhật ký nguyên vẹn: 250 bản ghi") || !strings.Contains(out, "witnessed heads up to seq 250") {
		t.Fatalf("intact log: %v\n%s", err, out)
	}

	// Cut the newest 10 entries with their checkpoints; rewind the head.
	db, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM audit_log WHERE seq > 240`, `DELETE FROM audit_checkpoints WHERE seq > 240`,
		`UPDATE audit_head SET seq = 240, hash = (SELECT hash FROM audit_log WHERE seq = 240), ckpt_seq = 0 WHERE id = 1`} {
		if _, err := db.Q().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if out, err := runVerify(t, cfg, "--no-witness"); err != nil || !strings.Contains(out, "Cảnh báo") {
		t.Fatalf("database alone: %v\n%s", err, out)
	}
	out, err = runVerify(t, cfg)
	if err == nil || !strings.Contains(out, "thiếu bản ghi 241..250") || !strings.Contains(out, "entries 241..250 missing") {
		t.Fatalf("cut log: %v\n%s", err, out)
	}
	out, _ = runVerify(t, cfg, "--json")
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.OK || rep.Missing == nil || rep.Missing.From != 241 || rep.Missing.To != 250 {
		t.Fatalf("json: %v %s", err, out)
	}
	// The external copy alone proves it too, and a missing witness file
	// is itself a failure.
	if err := os.Remove(cfg.AuditWitnessPath()); err != nil {
		t.Fatal(err)
	}
	if out, err := runVerify(t, cfg); err == nil || !strings.Contains(out, "241..250") {
		t.Fatalf("external witness: %v\n%s", err, out)
	}
	cfg.Audit.ExternalWitnessFile = ""
	if out, err := runVerify(t, cfg); err == nil || !strings.Contains(out, "không tìm thấy tệp chứng thực") {
		t.Fatalf("no witness file: %v\n%s", err, out)
	}
}
