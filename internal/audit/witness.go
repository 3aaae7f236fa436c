package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// The database alone cannot prove its log whole: whoever can write to it can
// delete the newest entries with their checkpoints and rewind the head row,
// and the chain left behind is consistent. So the head is also anchored
// outside the database, as transparency logs do: a Witness signs the head
// (SignedHead) every few seconds or entries and hands it to sinks the
// database cannot rewrite — an append-only file, tier 1, a remote syslog.
// Verify then trusts only those signed heads about where the log ends.

// HeadSink receives witnessed heads, in the order they were signed.
type HeadSink interface {
	WriteHead(ctx context.Context, h SignedHead) error
	Name() string
}

// FileWitness is an append-only file of signed heads, one JSON line each,
// fsynced per line. It lives outside the database (by default in the data
// folder; a second copy can go to other storage).
type FileWitness struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenFileWitness opens (creating) the witness file at path. A last line
// left incomplete by a crash (never acknowledged: each line is fsynced
// before the head counts as witnessed) is cut off, so the next line stands
// on its own.
func OpenFileWitness(path string) (*FileWitness, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit witness: %w", err)
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit witness: %w", err)
	}
	if err := cutTornTail(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit witness %s: %w", path, err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new file must survive a crash as an entry of its folder.
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit witness: %w", err)
		}
	}
	return &FileWitness{path: path, f: f}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tail reads up to the last n bytes of f.
func tail(f *os.File, n int64) ([]byte, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	return buf, off, nil
}

func cutTornTail(f *os.File) error {
	buf, off, err := tail(f, 4*MaxHeadLine)
	if err != nil || len(buf) == 0 || buf[len(buf)-1] == '\n' {
		return err
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 || off == 0 {
		if err := f.Truncate(off + int64(i+1)); err != nil {
			return err
		}
		return f.Sync()
	}
	// No line end in the last 4 KiB: not a torn line but a damaged file;
	// keep it as it is (verify reports it) and start on a new line.
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return err
	}
	return f.Sync()
}

// Name is the sink's name in logs.
func (w *FileWitness) Name() string { return "file:" + w.path }

// Path is the file's path.
func (w *FileWitness) Path() string { return w.path }

// WriteHead appends h and fsyncs.
func (w *FileWitness) WriteHead(_ context.Context, h SignedHead) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("audit witness: closed")
	}
	if _, err := w.f.Write(h.Line()); err != nil {
		return fmt.Errorf("audit witness %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("audit witness %s: %w", w.path, err)
	}
	return nil
}

// Last is the newest well-formed head of site in the file (found in its
// last lines), so a restarted site does not witness the same head twice.
func (w *FileWitness) Last(site string) (SignedHead, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf, _, err := tail(w.f, 16*MaxHeadLine)
	if err != nil {
		return SignedHead{}, false
	}
	lines := bytes.Split(buf, []byte{'\n'})
	for i := len(lines) - 1; i >= 0; i-- {
		if h, err := ParseHead(lines[i]); err == nil && h.Site == site {
			return h, true
		}
	}
	return SignedHead{}, false
}

// Close closes the file.
func (w *FileWitness) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// WitnessLine is a line of a witness that verify could not use.
type WitnessLine struct {
	Source  string `json:"source"`
	Line    int64  `json:"line"`
	Seq     int64  `json:"seq,omitempty"`
	Problem string `json:"problem"` // "malformed" or "signature"
	Detail  string `json:"detail,omitempty"`
}

// witHead is a checked head kept for verify: 48 bytes, so a year of heads
// every 10 s (3.2 million) fits in 150 MB.
type witHead struct {
	seq, at int64
	hash    [32]byte
}

// maxBadLines bounds the bad lines a report lists (all are counted).
const maxBadLines = 100

// Witnessed is what the witnesses say about one site's head: the heads whose
// signature holds, and the lines that could not be used.
type Witnessed struct {
	site     string
	keyFor   func(keyID string) ed25519.PublicKey
	heads    []witHead
	Sources  []string
	BadLines []WitnessLine
	Bad      int64 // bad lines, including those not listed
	Foreign  int64 // well-signed lines of other sites, ignored
}

// NewWitnessed collects site's heads checked with keyFor (the site's public
// key by key id; an unknown id makes the line's signature invalid).
func NewWitnessed(site string, keyFor func(keyID string) ed25519.PublicKey) *Witnessed {
	return &Witnessed{site: site, keyFor: keyFor}
}

// Heads is the number of usable heads read.
func (w *Witnessed) Heads() int { return len(w.heads) }

// ReadFile reads a witness file. A missing file is an error the caller
// reports (os.ErrNotExist).
func (w *Witnessed) ReadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return w.Read(f, path)
}

// Read reads witness lines from r (a file, or tier 1's copy of a lower
// site's heads). A last line without its newline is a write in progress and
// is not read.
func (w *Witnessed) Read(r io.Reader, source string) error {
	w.Sources = append(w.Sources, source)
	br := bufio.NewReaderSize(r, 4*MaxHeadLine)
	var n int64
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			n++
			w.bad(WitnessLine{Source: source, Line: n, Problem: "malformed", Detail: "line too long"})
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == nil {
				continue
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit witness %s: %w", source, err)
		}
		n++
		w.add(source, n, line[:len(line)-1])
	}
}

func (w *Witnessed) bad(l WitnessLine) {
	w.Bad++
	if len(w.BadLines) < maxBadLines {
		w.BadLines = append(w.BadLines, l)
	}
}

func (w *Witnessed) add(source string, n int64, line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	h, err := ParseHead(line)
	if err != nil {
		w.bad(WitnessLine{Source: source, Line: n, Problem: "malformed", Detail: err.Error()})
		return
	}
	if h.Site != w.site {
		w.Foreign++
		return
	}
	if !h.Check(w.keyFor(h.KeyID)) {
		w.bad(WitnessLine{Source: source, Line: n, Seq: h.Seq, Problem: "signature", Detail: fmt.Sprintf("key id %q", h.KeyID)})
		return
	}
	var wh witHead
	wh.seq, wh.at = h.Seq, h.AtMS
	_, _ = hex.Decode(wh.hash[:], []byte(h.Hash)) // Valid checked the form
	w.heads = append(w.heads, wh)
}

// sorted returns the heads in seq order (a rewound and re-written log can
// have put a smaller seq after a larger one).
func (w *Witnessed) sorted() []witHead {
	if w == nil {
		return nil
	}
	slices.SortStableFunc(w.heads, func(a, b witHead) int { return int(min(max(a.seq-b.seq, -1), 1)) })
	return w.heads
}

// WitnessOptions configures a Witness.
type WitnessOptions struct {
	// Site is the site id the heads name.
	Site string
	// A head is witnessed once Every entries were committed since the last
	// one, and every Interval while entries keep coming (a quiet log needs
	// no new head). Defaults: 100 entries, 10 s.
	Every    int64
	Interval time.Duration
	// Sinks receive each head. The first is the one whose failure makes
	// Sync fail (the checkpoint file); the others are best effort and get
	// the next head if one is missed.
	Sinks []HeadSink
	// Last is the newest head already witnessed (FileWitness.Last).
	Last   SignedHead
	Logger *slog.Logger
}

// Witness signs the log's head and hands it to the sinks.
type Witness struct {
	l       *Log
	db      *store.DB
	o       WitnessOptions
	mu      sync.Mutex // one Sync at a time: heads leave in seq order
	last    SignedHead
	pending atomic.Int64 // entries committed since the last head
	kick    chan struct{}
}

// NewWitness attaches a witness to l: from now on committed appends count
// towards the next head. l must have a signing key.
func (l *Log) NewWitness(db *store.DB, o WitnessOptions) (*Witness, error) {
	if l.opt.Key == nil {
		return nil, ErrNoKey
	}
	if !siteIDRe.MatchString(o.Site) {
		return nil, fmt.Errorf("audit witness: bad site id %q", o.Site)
	}
	if len(o.Sinks) == 0 {
		return nil, errors.New("audit witness: no sink")
	}
	if o.Every <= 0 {
		o.Every = 100
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Witness{l: l, db: db, o: o, last: o.Last, kick: make(chan struct{}, 1)}
	l.witness.Store(w)
	return w, nil
}

// committed is called after a transaction with n appended entries commits.
func (w *Witness) committed(n int) {
	if w.pending.Add(int64(n)) >= w.o.Every {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// Last is the newest witnessed head.
func (w *Witness) Last() SignedHead {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Run witnesses the head until ctx ends: after Every committed entries, and
// every Interval if entries were committed meanwhile.
func (w *Witness) Run(ctx context.Context) {
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
		if _, _, err := w.Sync(ctx); err != nil && ctx.Err() == nil {
			w.o.Logger.Error("audit head could not be witnessed; will retry", "err", err)
		}
	}
}

// Sync witnesses the committed head now if it moved since the last witnessed
// head: it signs a database checkpoint for it (as Checkpoint does), then,
// after that commits, signs the head for the witnesses and writes it to
// every sink. wrote is false when there was nothing new.
func (w *Witness) Sync(ctx context.Context) (SignedHead, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending.Store(0)
	var h head
	err := w.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		// The head row's lock waits for appends in flight to commit, so
		// the head signed is always a committed one.
		if h, err = lockHead(ctx, tx, 0); err != nil {
			return err
		}
		if h.seq == 0 || h.seq <= h.ckptSeq {
			return nil
		}
		cp := w.l.sign(h.seq, h.hash, w.l.opt.Now().UnixMilli())
		if err := insertCheckpoints(ctx, tx, []Checkpoint{cp}); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE audit_head SET ckpt_seq = ?, ckpt_at = ? WHERE id = 1`, cp.Seq, cp.AtMS)
		return err
	})
	if err != nil {
		return SignedHead{}, false, err
	}
	if h.seq == 0 || (h.seq == w.last.Seq && h.hash == w.last.Hash) {
		return w.last, false, nil
	}
	if h.seq < w.last.Seq {
		// Witnessed all the same: the witness must show the rewind.
		w.o.Logger.Error("audit log is behind its witnessed head: entries were removed from the database",
			"head", h.seq, "witnessed", w.last.Seq)
	}
	sh := SignHead(w.l.opt.Key, w.l.opt.KeyID, w.o.Site, h.seq, h.hash, w.l.opt.Now().UnixMilli())
	for i, s := range w.o.Sinks {
		if err := s.WriteHead(ctx, sh); err != nil {
			if i == 0 {
				return SignedHead{}, false, err
			}
			w.o.Logger.Warn("audit head not sent to a witness; the next head will be", "witness", s.Name(), "err", err)
		}
	}
	w.last = sh
	return sh, true, nil
}
