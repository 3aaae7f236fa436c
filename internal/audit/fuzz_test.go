package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzCanonicalDetails drives the details canonicaliser with arbitrary JSON:
// it must never panic, its output must be valid JSON within MaxDetails, and
// reading the output back (as List does) and canonicalising again must give
// the same text, or an entry read back would no longer match its hash.
func FuzzCanonicalDetails(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"b":{"z":1,"a":[1,2,{"y":null,"x":true}]},"a":"<&>"}`,
		`{"lý_do":"Điều tra — phường Mường Thanh","số":9007199254740993}`,
		`{"f":1.0,"e":1e21,"n":-0,"u":"\u0000\ud800"}`, `{"password":"x","k":{"client_secret":[1]}}`,
		`[1]`, `{"a":1}{"b":2}`, `{"a":1,"a":2}`, `"x"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := canonicalJSONText(in)
		if err != nil {
			return
		}
		if len(out) > MaxDetails || !json.Valid([]byte(out)) {
			t.Fatalf("bad output %q", out)
		}
		again, err := canonicalJSONText(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q (%v)", out, again, err)
		}
		m, err := parseDetails(out)
		if err != nil {
			t.Fatalf("stored form does not parse: %q: %v", out, err)
		}
		back, err := CanonicalDetails(m)
		if err != nil || back != out {
			t.Fatalf("read-back differs: %q -> %q (%v)", out, back, err)
		}
		// The fast path and the general path agree.
		if slow, err := canonicalSlow(m); m != nil && (err != nil || slow != out) {
			t.Fatalf("fast %q slow %q (%v)", out, slow, err)
		}
	})
}

// FuzzEntryHash checks the encoding is unambiguous: two entries that differ
// in any field (here: the split of the same bytes between actor and org, or
// else the reason) never share a hash.
func FuzzEntryHash(f *testing.F) {
	f.Add("Nguyễn Văn An", "so-tttt", "", uint(3))
	f.Add("ab", "c", "x", uint(1))
	f.Add("", "", "", uint(0))
	f.Fuzz(func(t *testing.T, actor, org, reason string, split uint) {
		if !utf8.ValidString(actor + org + reason) {
			return // cleanText maps invalid bytes together by design
		}
		joined := actor + org
		k := int(split % uint(len(joined)+1))
		for !utf8.ValidString(joined[:k]) {
			k--
		}
		a := Entry{Seq: 5, At: time.UnixMilli(1), Actor: actor, Org: org, Reason: reason, Action: "x"}
		b := a
		b.Actor, b.Org = joined[:k], joined[k:]
		if k == len(actor) {
			b.Reason = reason + "." // same split: make the reason differ instead
		}
		ha, err1 := ComputeHash(a)
		hb, err2 := ComputeHash(b)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if ha == hb {
			t.Fatalf("collision: %+v %+v", a, b)
		}
		if again, _ := ComputeHash(a); again != ha {
			t.Fatal("hash not deterministic")
		}
	})
}

func TestFastPathMatchesSlow(t *testing.T) {
	for _, d := range []map[string]any{
		{"b": 1, "a": []any{"<&>", 2.5, nil, true}, "c": map[string]any{"y": int64(-3), "x": uint8(4)}},
		{"s": []string{"z", "a"}, "f": float32(0.1), "n": json.Number("1e21")},
		{"\xff": 1, "\uFFFD": 2, "ok": "\xfe"},
		{"token_id": "t-1", "lý_do": "Điều tra"},
	} {
		fast, err1 := CanonicalDetails(d)
		slow, err2 := canonicalSlow(d)
		if err1 != nil || err2 != nil || fast != slow {
			t.Fatalf("fast %q slow %q (%v %v)", fast, slow, err1, err2)
		}
	}
}

// FuzzCleanText: whatever a caller passes, the stored text is valid UTF-8
// without NUL (PostgreSQL would refuse it), bounded, and stable when cleaned
// again (a row read back must hash the same).
func FuzzCleanText(f *testing.F) {
	f.Add("Nguyễn Văn An")
	f.Add("bad\xff\x00name")
	f.Add(strings.Repeat("ư", MaxField))
	f.Fuzz(func(t *testing.T, in string) {
		out := cleanText(in)
		if !utf8.ValidString(out) || strings.IndexByte(out, 0) >= 0 || len(out) > MaxField+len("…") {
			t.Fatalf("bad output for %q: %q", in, out)
		}
		if len(out) <= MaxField && cleanText(out) != out {
			t.Fatalf("not stable: %q", out)
		}
		if utf8.ValidString(in) && !strings.ContainsRune(in, 0) && len(in) <= MaxField && out != in {
			t.Fatalf("clean text changed: %q -> %q", in, out)
		}
	})
}

// FuzzParseHead drives the witness line parser: it must never panic, and a
// line it accepts must be well formed and read back the same after being
// written again (one reading per line).
func FuzzParseHead(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	good := SignHead(key, "0a1b2c3d4e5f6071", "tinh-dien-bien", 1234, strings.Repeat("ab", 32), 1765000000000)
	line := good.Line()
	for _, s := range []string{
		string(line[:len(line)-1]), `{}`, `[]`, `null`, `{"site":"t1"}`,
		strings.Replace(string(line[:len(line)-1]), `"seq":1234`, `"seq":1234,"seq":1`, 1),
		strings.Replace(string(line[:len(line)-1]), `}`, `,"x":1}`, 1),
		string(line[:len(line)-1]) + `{}`, strings.ToUpper(string(line)),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseHead(in)
		if err != nil {
			return
		}
		if err := h.Valid(); err != nil {
			t.Fatalf("accepted an invalid head %+v: %v", h, err)
		}
		l := h.Line()
		back, err := ParseHead(l[:len(l)-1])
		if err != nil || back != h {
			t.Fatalf("written again reads differently: %+v -> %+v (%v)", h, back, err)
		}
		if h.Check(key.Public().(ed25519.PublicKey)) && (h.Site != good.Site || h.Seq != good.Seq || h.Hash != good.Hash) {
			t.Fatalf("a changed head still verifies: %+v", h)
		}
	})
}

// FuzzWitnessRead reads arbitrary witness files: never a panic, every line
// counted once as a head, a bad line or another site's line.
func FuzzWitnessRead(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	a := SignHead(key, "k", "t1", 1, strings.Repeat("ab", 32), 1)
	b := SignHead(key, "k", "t2", 2, strings.Repeat("cd", 32), 2)
	f.Add(append(a.Line(), b.Line()...))
	f.Add([]byte("x\n\n" + strings.Repeat("y", 5000) + "\n"))
	f.Add(a.Line()[:20])
	f.Fuzz(func(t *testing.T, in []byte) {
		w := NewWitnessed("t1", func(string) ed25519.PublicKey { return key.Public().(ed25519.PublicKey) })
		if err := w.Read(bytes.NewReader(in), "fuzz"); err != nil {
			t.Fatal(err)
		}
		if int64(len(w.heads))+w.Bad+w.Foreign > int64(bytes.Count(in, []byte{'\n'})) {
			t.Fatalf("more lines read than there are: %d heads %d bad %d foreign", len(w.heads), w.Bad, w.Foreign)
		}
	})
}
