package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/vigil-vms/vigil/internal/store"
)

// Problem codes of a failed verification. Each has an English and a
// Vietnamese text (Messages); the API/CLI layer picks the language.
const (
	ProblemHashMismatch    = "hash_mismatch"
	ProblemSeqGap          = "seq_gap"
	ProblemSeqDuplicate    = "seq_duplicate"
	ProblemPrevMismatch    = "prev_hash_mismatch"
	ProblemCheckpointSig   = "checkpoint_signature"
	ProblemCheckpointHash  = "checkpoint_hash"
	ProblemCheckpointOrph  = "checkpoint_orphan"
	ProblemTailTruncated   = "tail_truncated"
	ProblemHeadMismatch    = "head_mismatch"
	ProblemRowsBeyondHead  = "rows_beyond_head"
	ProblemWitnessMissing  = "witness_truncated"
	ProblemWitnessDiffers  = "witness_mismatch"
	ProblemWitnessLine     = "witness_line"
	ProblemWitnessAbsent   = "witness_absent"
	verifyBatch            = 4000
	verifyCheckpointsBatch = 1000
)

// Message is a user-facing text in both languages.
type Message struct {
	VI string `json:"vi"`
	EN string `json:"en"`
}

// Messages maps each problem code to its text.
var Messages = map[string]Message{
	ProblemHashMismatch:   {"sai mã băm: bản ghi đã bị sửa", "hash mismatch: row changed"},
	ProblemSeqGap:         {"đứt số thứ tự: bản ghi đã bị xoá", "seq gap: row(s) deleted"},
	ProblemSeqDuplicate:   {"trùng số thứ tự: bản ghi bị chèn thêm", "duplicate seq: row inserted"},
	ProblemPrevMismatch:   {"sai liên kết mã băm trước: bản ghi bị chèn hoặc đổi thứ tự", "prev_hash mismatch: row inserted or reordered"},
	ProblemCheckpointSig:  {"chữ ký điểm kiểm tra không hợp lệ", "checkpoint signature invalid"},
	ProblemCheckpointHash: {"điểm kiểm tra không khớp bản ghi: nhật ký đã bị viết lại", "checkpoint hash mismatch: log rewritten"},
	ProblemCheckpointOrph: {"điểm kiểm tra trỏ tới bản ghi không tồn tại", "checkpoint refers to a missing entry"},
	ProblemTailTruncated:  {"phần cuối nhật ký bị cắt sau điểm kiểm tra", "tail truncated after checkpoint"},
	ProblemHeadMismatch:   {"đầu chuỗi không khớp bản ghi cuối: phần cuối bị viết lại", "head mismatch: tail rewritten"},
	ProblemRowsBeyondHead: {"có bản ghi sau đầu chuỗi: bản ghi bị chèn thêm", "rows after the head: row(s) inserted"},
	ProblemWitnessMissing: {"thiếu bản ghi mà bên chứng thực đã ghi nhận: nhật ký bị cắt bớt hoặc bị xoá", "entries the witness saw are missing: log truncated or wiped"},
	ProblemWitnessDiffers: {"nhật ký khác với đầu chuỗi đã được chứng thực: nhật ký bị quay lui và viết lại", "log differs from a witnessed head: rewound and rewritten"},
	ProblemWitnessAbsent:  {"không tìm thấy tệp chứng thực: không thể xác nhận nhật ký không bị cắt bớt", "witness file not found: the log's end cannot be confirmed"},
	ProblemWitnessLine:    {"dòng chứng thực không dùng được (sai chữ ký hoặc sai định dạng)", "witness line unusable (bad signature or malformed)"},
}

// Report is the outcome of Verify. When OK is false, BadSeq and Problem name
// the FIRST bad entry in seq order.
type Report struct {
	OK          bool   `json:"ok"`
	Entries     int64  `json:"entries"`     // entries read and checked
	Checkpoints int64  `json:"checkpoints"` // checkpoints checked (signature and hash)
	HeadSeq     int64  `json:"head_seq"`    // the head when verification started
	LastSeq     int64  `json:"last_seq"`    // last entry checked
	BadSeq      int64  `json:"bad_seq,omitempty"`
	Problem     string `json:"problem,omitempty"` // a Problem… code
	Detail      string `json:"detail,omitempty"`  // technical detail (English, no secrets)

	// With a witness: the signed heads checked against the log, the newest
	// of them, the entries it proves missing or different (Missing), and
	// the witness lines that could not be used.
	Witnessed       int64         `json:"witnessed,omitempty"`
	WitnessSeq      int64         `json:"witness_seq,omitempty"`
	WitnessAt       int64         `json:"witness_at,omitempty"` // unix ms
	Missing         *Range        `json:"missing,omitempty"`
	WitnessBadLines []WitnessLine `json:"witness_bad_lines,omitempty"`
	WitnessBad      int64         `json:"witness_bad,omitempty"`
}

// Range is entries From..To (inclusive).
type Range struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// Explain is the report's problem text with the entries it names, in both
// languages ("" when OK).
func (r Report) Explain() Message {
	m := Messages[r.Problem]
	if m.EN == "" {
		return m
	}
	switch {
	case r.Missing != nil && r.Problem == ProblemWitnessMissing:
		m.VI += fmt.Sprintf(" — thiếu bản ghi %d..%d (đầu chuỗi %d được chứng thực lúc %s)", r.Missing.From, r.Missing.To, r.WitnessSeq, displayTime(r.WitnessAt))
		m.EN += fmt.Sprintf(" — entries %d..%d missing (head %d witnessed at %s ICT)", r.Missing.From, r.Missing.To, r.WitnessSeq, displayTime(r.WitnessAt))
	case r.Missing != nil:
		m.VI += fmt.Sprintf(" — bản ghi %d..%d không còn như đã được chứng thực", r.Missing.From, r.Missing.To)
		m.EN += fmt.Sprintf(" — entries %d..%d are not as witnessed", r.Missing.From, r.Missing.To)
	case r.Problem == ProblemWitnessLine && len(r.WitnessBadLines) > 0:
		l := r.WitnessBadLines[0]
		m.VI += fmt.Sprintf(" — %d dòng, dòng đầu tiên: %s dòng %d (%s)", r.WitnessBad, l.Source, l.Line, l.Problem)
		m.EN += fmt.Sprintf(" — %d line(s), first: %s line %d (%s)", r.WitnessBad, l.Source, l.Line, l.Problem)
	}
	return m
}

// Message is the report's problem text ("" when OK).
func (r Report) Message() Message { return Messages[r.Problem] }

func (r Report) String() string {
	if r.OK {
		s := fmt.Sprintf("audit log OK: %d entries, %d checkpoints, head seq %d", r.Entries, r.Checkpoints, r.HeadSeq)
		if r.Witnessed > 0 {
			s += fmt.Sprintf(", %d witnessed heads up to seq %d", r.Witnessed, r.WitnessSeq)
		}
		return s
	}
	s := fmt.Sprintf("audit log BAD at seq %d: %s", r.BadSeq, r.Explain().EN)
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	return s
}

// Verify checks the whole log with one public key (every checkpoint must be
// signed by it). See VerifyKeys.
func Verify(ctx context.Context, db *store.DB, pub ed25519.PublicKey) (Report, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Report{}, errors.New("audit: verify needs an Ed25519 public key")
	}
	return verify(ctx, db, func(Checkpoint) ed25519.PublicKey { return pub }, nil)
}

// VerifyKeys is Verify across key rotations: each checkpoint is checked with
// the key its key_id names; an unknown key id makes the checkpoint invalid.
func VerifyKeys(ctx context.Context, db *store.DB, keys map[string]ed25519.PublicKey) (Report, error) {
	return verify(ctx, db, func(c Checkpoint) ed25519.PublicKey { return keys[c.KeyID] }, nil)
}

// VerifyWitnessed is VerifyKeys that also holds the log to the heads its
// witnesses signed (read them BEFORE calling, so every head read is one the
// database had committed): each witnessed head must be an entry with that
// hash. A head past the last entry names the entries cut off (truncation,
// wipe); a head whose entry differs names a rewind. Lines of the witness
// that are malformed or badly signed are themselves reported.
func VerifyWitnessed(ctx context.Context, db *store.DB, keys map[string]ed25519.PublicKey, w *Witnessed) (Report, error) {
	return verify(ctx, db, func(c Checkpoint) ed25519.PublicKey { return keys[c.KeyID] }, w)
}

// VerifyFiles is VerifyWitnessed with site's heads read from witness files
// (the checkpoint file, the external file, tier 1's copy). A file that does
// not exist fails the verification when the log has entries: its heads
// cannot be checked.
func VerifyFiles(ctx context.Context, db *store.DB, keys map[string]ed25519.PublicKey, site string, paths ...string) (Report, error) {
	w := NewWitnessed(site, func(id string) ed25519.PublicKey { return keys[id] })
	var absent []string
	for _, p := range paths {
		err := w.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			absent = append(absent, p)
			continue
		}
		if err != nil {
			return Report{}, err
		}
	}
	rep, err := VerifyWitnessed(ctx, db, keys, w)
	if err == nil && rep.OK && len(absent) > 0 && rep.Entries > 0 {
		rep.OK, rep.BadSeq, rep.Problem, rep.Detail = false, 0, ProblemWitnessAbsent, "missing: "+strings.Join(absent, ", ")
	}
	return rep, err
}

// verify streams entries and checkpoints in seq order, in batches (constant
// memory), and stops at the first problem. Tampering gives a Report with OK
// false and a nil error; an error means the check itself could not run.
//
// It checks up to the head read at the start, so appends running meanwhile
// neither disturb it nor look like tampering.
func verify(ctx context.Context, db *store.DB, keyFor func(Checkpoint) ed25519.PublicKey, wit *Witnessed) (Report, error) {
	q := db.Q()
	h, err := readHead(ctx, q)
	if err != nil {
		return Report{}, err
	}
	rep := Report{HeadSeq: h.seq}
	bad := func(seq int64, code, detail string) (Report, error) {
		rep.BadSeq, rep.Problem, rep.Detail = seq, code, detail
		return rep, nil
	}
	heads := wit.sorted()
	if wit != nil {
		rep.WitnessBadLines, rep.WitnessBad = wit.BadLines, wit.Bad
		if n := len(heads); n > 0 {
			rep.WitnessSeq, rep.WitnessAt = heads[n-1].seq, heads[n-1].at
		}
	}
	var wi int          // next witnessed head to check
	var witnessed int64 // newest witnessed head the log matched
	witnessBad := func(hd witHead, got string) (Report, error) {
		rep.Missing = &Range{From: witnessed + 1, To: hd.seq}
		return bad(hd.seq, ProblemWitnessDiffers, fmt.Sprintf("entry %d has hash %.16s…, its head witnessed at %s ICT has %.16s…; the log matched the witness up to entry %d",
			hd.seq, got, displayTime(hd.at), hex.EncodeToString(hd.hash[:]), witnessed))
	}

	cps := &ckptIter{q: q, max: h.seq, after: math.MinInt64}
	hs := newHasher()
	var (
		prevSeq  int64
		prevHash string
	)
	rs := streamRows(ctx, q, h.seq)
	defer rs.stop()
	for {
		b, ok := rs.next()
		if !ok {
			break
		}
		if b.err != nil {
			return Report{}, b.err
		}
		for i := range b.rows {
			r := &b.rows[i]
			want := prevSeq + 1
			switch {
			case r.seq > want:
				return bad(want, ProblemSeqGap, fmt.Sprintf("seq %d..%d missing", want, r.seq-1))
			case r.seq < want:
				return bad(r.seq, ProblemSeqDuplicate, fmt.Sprintf("seq %d after %d", r.seq, prevSeq))
			}
			if r.prevHash != prevHash {
				return bad(r.seq, ProblemPrevMismatch, "prev_hash does not match the hash of entry "+fmt.Sprint(prevSeq))
			}
			if got := hs.entryHash(r); got != r.hash {
				return bad(r.seq, ProblemHashMismatch, "stored hash does not match the entry's content")
			}
			// Checkpoints at or before this entry.
			for {
				c, ok, err := cps.peek(ctx)
				if err != nil {
					return Report{}, err
				}
				if !ok || c.Seq > r.seq {
					break
				}
				cps.next()
				pub := keyFor(c)
				if len(pub) != ed25519.PublicKeySize || !checkCheckpoint(pub, c) {
					return bad(c.Seq, ProblemCheckpointSig, "key id "+fmt.Sprintf("%q", c.KeyID))
				}
				if c.Seq < r.seq {
					return bad(c.Seq, ProblemCheckpointOrph, "")
				}
				if c.Hash != r.hash {
					return bad(c.Seq, ProblemCheckpointHash, "signed hash differs from the entry's hash")
				}
				rep.Checkpoints++
			}
			// Witnessed heads at or before this entry.
			for wi < len(heads) && heads[wi].seq <= r.seq {
				hd := heads[wi]
				wi++
				if hd.seq != r.seq || hex.EncodeToString(hd.hash[:]) != r.hash {
					return witnessBad(hd, r.hash)
				}
				witnessed = hd.seq
				rep.Witnessed++
			}
			prevSeq, prevHash = r.seq, r.hash
			rep.Entries++
			rep.LastSeq = r.seq
		}
		b.release()
	}
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}

	// Witnessed heads past the last entry: entries cut off (the head row
	// may have been rewound with them; only the witness is trusted here).
	if wi < len(heads) {
		last := heads[len(heads)-1]
		rep.Missing = &Range{From: prevSeq + 1, To: last.seq}
		return bad(prevSeq+1, ProblemWitnessMissing, fmt.Sprintf("entries %d..%d missing: the log ends at %d, its head %d was witnessed at %s ICT",
			prevSeq+1, last.seq, prevSeq, last.seq, displayTime(last.at)))
	}
	// The tail: rows must reach the head, and the head must be the last row.
	if prevSeq < h.seq {
		return bad(prevSeq+1, ProblemTailTruncated, fmt.Sprintf("last entry %d, head %d", prevSeq, h.seq))
	}
	if prevHash != h.hash {
		return bad(prevSeq, ProblemHeadMismatch, "")
	}
	// Checkpoints and rows past the start head are legitimate only if a
	// concurrent append wrote them, which moved the head in the same
	// transaction. Read the maxima first and the head after, so a concurrent
	// append can only make the head larger than what we compare it with.
	var maxCkpt, maxRow sql.NullInt64
	if err := q.QueryRow(ctx, `SELECT MAX(seq) FROM audit_checkpoints`).Scan(&maxCkpt); err != nil {
		return Report{}, fmt.Errorf("audit: verify: %w", err)
	}
	if err := q.QueryRow(ctx, `SELECT MAX(seq) FROM audit_log`).Scan(&maxRow); err != nil {
		return Report{}, fmt.Errorf("audit: verify: %w", err)
	}
	h2, err := readHead(ctx, q)
	if err != nil {
		return Report{}, err
	}
	if maxCkpt.Valid && maxCkpt.Int64 > h2.seq {
		return bad(prevSeq+1, ProblemTailTruncated, fmt.Sprintf("checkpoint at %d, last entry %d", maxCkpt.Int64, prevSeq))
	}
	if maxRow.Valid && maxRow.Int64 > h2.seq {
		return bad(h2.seq+1, ProblemRowsBeyondHead, fmt.Sprintf("rows up to %d, head %d", maxRow.Int64, h2.seq))
	}
	if wit != nil && wit.Bad > 0 {
		l := wit.BadLines[0]
		return bad(l.Seq, ProblemWitnessLine, fmt.Sprintf("%d bad line(s); first: %s line %d: %s %s", wit.Bad, l.Source, l.Line, l.Problem, l.Detail))
	}
	rep.OK = true
	return rep, nil
}

func readHead(ctx context.Context, q store.Q) (head, error) {
	var h head
	err := q.QueryRow(ctx, `SELECT seq, hash, ckpt_seq, ckpt_at FROM audit_head WHERE id = 1`).
		Scan(&h.seq, &h.hash, &h.ckptSeq, &h.ckptAt)
	if err != nil {
		return h, fmt.Errorf("audit: read head: %w", err)
	}
	return h, nil
}

const rowCols = `seq, at, actor_id, actor, org, action, object, outcome, reason, details, remote, prev_hash, hash`

func scanRow(rs *sql.Rows, r *row) error {
	return rs.Scan(&r.seq, &r.at, &r.actorID, &r.actor, &r.org, &r.action, &r.object, &r.outcome,
		&r.reas, &r.details, &r.remote, &r.prevHash, &r.hash)
}

type rowBatch struct {
	rows    []row
	err     error
	release func() // hands the buffer back for reuse
}

// rowStream reads the log (seq <= upTo) in fixed seq windows on
// verifyReaders goroutines, handing the windows out in order: reading rows
// (the driver's work) costs about four times the hashing, so overlapping
// reads with each other and with the hashing nearly halves a verify on two
// cores. Windows are by seq value, not by position, so they are independent
// and a gap only makes a window short. Window 0 holds any row forged with
// seq < 1. Memory is bounded by two buffers per reader.
type rowStream struct {
	ctx    context.Context
	chans  []chan rowBatch
	k, n   int64
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

const verifyReaders = 2

func streamRows(ctx context.Context, q store.Q, upTo int64) *rowStream {
	ctx, cancel := context.WithCancel(ctx)
	s := &rowStream{ctx: ctx, cancel: cancel, n: 1 + (max(upTo, 0)+verifyBatch-1)/verifyBatch}
	for w := range verifyReaders {
		ch := make(chan rowBatch, 1)
		free := make(chan []row, 2)
		for range 2 {
			free <- make([]row, 0, verifyBatch)
		}
		s.chans = append(s.chans, ch)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(ch)
			for k := int64(w); k < s.n; k += verifyReaders {
				var buf []row
				select {
				case buf = <-free:
				case <-ctx.Done():
					return
				}
				buf, err := readWindow(ctx, q, k, upTo, buf[:0])
				b := rowBatch{rows: buf, err: err, release: func() { free <- buf }}
				select {
				case ch <- b:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	return s
}

// next returns the next window in seq order; false at the end.
func (s *rowStream) next() (rowBatch, bool) {
	if s.k >= s.n {
		return rowBatch{}, false
	}
	b, ok := <-s.chans[s.k%verifyReaders]
	s.k++
	if !ok {
		err := s.ctx.Err()
		if err == nil {
			err = errors.New("audit: verify: reader stopped")
		}
		return rowBatch{err: err}, true
	}
	return b, true
}

// stop ends the readers and waits for them.
func (s *rowStream) stop() { s.cancel(); s.wg.Wait() }

func readWindow(ctx context.Context, q store.Q, k, upTo int64, dst []row) ([]row, error) {
	if k == 0 {
		return readRows(ctx, q, `SELECT `+rowCols+` FROM audit_log WHERE seq < 1 ORDER BY seq LIMIT ?`, dst, verifyBatch)
	}
	lo := 1 + (k-1)*verifyBatch
	hi := min(lo+verifyBatch-1, upTo)
	return readRows(ctx, q, `SELECT `+rowCols+` FROM audit_log WHERE seq >= ? AND seq <= ? ORDER BY seq`, dst, lo, hi)
}

func readRows(ctx context.Context, q store.Q, sqlq string, dst []row, args ...any) ([]row, error) {
	rs, err := q.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		dst = append(dst, row{})
		if err := scanRow(rs, &dst[len(dst)-1]); err != nil {
			return nil, fmt.Errorf("audit: verify: %w", err)
		}
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("audit: verify: %w", err)
	}
	return dst, nil
}

// ckptIter streams checkpoints (seq <= max) in seq order, a batch at a time.
type ckptIter struct {
	q     store.Q
	max   int64
	after int64
	buf   []Checkpoint
	pos   int
	done  bool
}

func (it *ckptIter) peek(ctx context.Context) (Checkpoint, bool, error) {
	if it.pos < len(it.buf) {
		return it.buf[it.pos], true, nil
	}
	if it.done {
		return Checkpoint{}, false, nil
	}
	it.buf, it.pos = it.buf[:0], 0
	rs, err := it.q.Query(ctx, `SELECT seq, hash, at, signature, key_id FROM audit_checkpoints WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
		it.after, it.max, verifyCheckpointsBatch)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("audit: verify checkpoints: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var c Checkpoint
		if err := rs.Scan(&c.Seq, &c.Hash, &c.AtMS, &c.Signature, &c.KeyID); err != nil {
			return Checkpoint{}, false, fmt.Errorf("audit: verify checkpoints: %w", err)
		}
		it.buf = append(it.buf, c)
	}
	if err := rs.Err(); err != nil {
		return Checkpoint{}, false, fmt.Errorf("audit: verify checkpoints: %w", err)
	}
	if len(it.buf) < verifyCheckpointsBatch {
		it.done = true
	}
	if len(it.buf) == 0 {
		return Checkpoint{}, false, nil
	}
	it.after = it.buf[len(it.buf)-1].Seq
	return it.buf[0], true, nil
}

func (it *ckptIter) next() { it.pos++ }
