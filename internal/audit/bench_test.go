package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// benchEntries reports throughput as entries/s, the figure bench/audit.sh prints.
func benchEntries(b *testing.B, entries int) {
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
}

func benchAppend(b *testing.B, db *store.DB) {
	ctx := context.Background()
	l := newLog(db, 1000)
	e := sample(1)
	n := 0
	for b.Loop() {
		// One entry, one transaction: the cost a room pays per change.
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := l.Append(ctx, tx, e)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	benchEntries(b, n)
}

func BenchmarkAppend(b *testing.B)         { benchAppend(b, storetest.SQLite(b)) }
func BenchmarkAppendPostgres(b *testing.B) { benchAppend(b, storetest.Postgres(b)) }

// benchAppendWitnessed is benchAppend with the witness running as a site
// runs it: a signed head into the fsynced checkpoint file every 100 entries
// (and every 10 s), by its own goroutine beside the appends.
func benchAppendWitnessed(b *testing.B, db *store.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newLog(db, 1000)
	fw, err := audit.OpenFileWitness(filepath.Join(b.TempDir(), "audit-witness.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer fw.Close()
	w, err := l.NewWitness(db, audit.WitnessOptions{Site: "t1", Every: 100, Interval: 10 * time.Second, Sinks: []audit.HeadSink{fw}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	e := sample(1)
	n := 0
	for b.Loop() {
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := l.Append(ctx, tx, e)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	benchEntries(b, n)
	cancel()
	<-done
	if _, _, err := w.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(w.Last().Seq), "last-witnessed-seq")
}

// BenchmarkAppendWitnessed is BenchmarkAppend with the head witnessed.
func BenchmarkAppendWitnessed(b *testing.B)         { benchAppendWitnessed(b, storetest.SQLite(b)) }
func BenchmarkAppendWitnessedPostgres(b *testing.B) { benchAppendWitnessed(b, storetest.Postgres(b)) }

func benchAppendBatch(b *testing.B, db *store.DB) {
	ctx := context.Background()
	l := newLog(db, 1000)
	batch := make([]audit.Entry, 1000)
	for i := range batch {
		batch[i] = sample(i)
	}
	n := 0
	for b.Loop() {
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := l.AppendBatch(ctx, tx, batch)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		n += len(batch)
	}
	benchEntries(b, n)
}

// BenchmarkAppendBatch appends 1000 entries per transaction.
func BenchmarkAppendBatch(b *testing.B)         { benchAppendBatch(b, storetest.SQLite(b)) }
func BenchmarkAppendBatchPostgres(b *testing.B) { benchAppendBatch(b, storetest.Postgres(b)) }

// BenchmarkVerify verifies a SQLite log of AUDIT_BENCH_ROWS entries (default
// 100 000; bench/audit.sh sets 1 000 000), checkpointed every 1000 entries.
func BenchmarkVerify(b *testing.B) {
	rows := 100_000
	if v := os.Getenv("AUDIT_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("AUDIT_BENCH_ROWS=%q", v)
		}
		rows = n
	}
	ctx := context.Background()
	db := storetest.SQLite(b)
	l := newLog(db, 1000)
	const txSize = 20_000
	batch := make([]audit.Entry, txSize)
	for i := range batch {
		batch[i] = sample(i)
	}
	start := time.Now()
	for done := 0; done < rows; done += txSize {
		chunk := batch[:min(txSize, rows-done)]
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := l.AppendBatch(ctx, tx, chunk)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	gen := time.Since(start)
	b.Logf("generated %d entries in %v (%.0f entries/s)", rows, gen, float64(rows)/gen.Seconds())
	runs := 0
	for b.Loop() {
		rep, err := audit.Verify(ctx, db, pub(siteKey))
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK || rep.Entries != int64(rows) {
			b.Fatal(rep)
		}
		runs++
	}
	sec := b.Elapsed().Seconds() / float64(runs)
	b.ReportMetric(sec, "s/verify")
	b.ReportMetric(float64(rows)/sec, "entries/s")
	b.ReportMetric(float64(rows)/gen.Seconds(), "gen-entries/s")
}
