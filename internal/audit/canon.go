package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"unicode/utf8"
)

// MaxDetails bounds the canonical details JSON of one entry, so one careless
// caller cannot bloat the log (and every verify after it).
const MaxDetails = 64 << 10

// MaxField bounds each text field of an entry (bytes, before the "…" mark).
const MaxField = 4096

// Domain-separation tags: a hash of an entry can never be confused with the
// signed message of a checkpoint, nor with a future version of the encoding.
const (
	entryTag      = "vigil/audit/entry/v1"
	checkpointTag = "vigil/audit/checkpoint/v1"
)

// redactedKeys are detail keys whose values are dropped even if a caller puts
// them in by mistake: the log is read by many and shipped upward, so it must
// never carry a secret (a defence in depth, not a licence to pass secrets).
var redactedKeys = []string{"password", "passwd", "secret", "private_key", "privatekey", "credential", "totp"}

// Redacted replaces the value of a redacted detail key.
const Redacted = "[redacted]"

func redactKey(k string) bool {
	k = strings.ToLower(k)
	for _, r := range redactedKeys {
		if strings.Contains(k, r) {
			return true
		}
	}
	return false
}

// cleanText makes s storable identically on both engines: PostgreSQL TEXT
// rejects invalid UTF-8 and NUL, SQLite would keep them; if the two stored
// different bytes the hash computed at append would not match on read.
//
// It also caps the length: a text field names a person, an object or a
// reason, and an unbounded one would let a caller bloat the log; the entry is
// still written (an audit line must not be lost), cut and marked with "…".
func cleanText(s string) string {
	if len(s) <= MaxField && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) > MaxField {
		cut := MaxField
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// CanonicalDetails encodes details as canonical JSON: object keys sorted at
// every depth (structs included, by going through a generic decode), numbers
// kept as the literal first produced, no HTML escaping, no insignificant
// space. nil or empty is "{}". The function is idempotent on its own output
// decoded with UseNumber, which is what lets a reader (tier 1, federation)
// recompute the hash from an Entry read back.
func CanonicalDetails(d map[string]any) (string, error) {
	if len(d) == 0 {
		return "{}", nil
	}
	var (
		out string
		err error
	)
	if plain(d, 0) {
		// Fast path (the common case): only maps, slices and scalars, no
		// key to redact. encoding/json already sorts map keys, so one
		// encode gives the same text as the general path below.
		out, err = encodeJSON(d)
	} else {
		out, err = canonicalSlow(d)
	}
	if err != nil {
		return "", err
	}
	if len(out) > MaxDetails {
		return "", fmt.Errorf("audit: details too large (%d bytes, max %d)", len(out), MaxDetails)
	}
	return out, nil
}

// canonicalSlow goes through a generic decode: struct fields become sorted
// keys, and redaction works on a copy (never on the caller's map).
func canonicalSlow(d map[string]any) (string, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("audit: details: %w", err)
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return "", err
	}
	redact(v)
	return encodeJSON(v)
}

// plain reports whether v holds only types whose JSON encoding is already
// canonical (sorted map keys) and no key to redact. Depth is bounded so a
// cyclic or absurdly deep value takes the slow path (which then fails).
func plain(v any, depth int) bool {
	if depth > 32 {
		return false
	}
	switch x := v.(type) {
	case nil, string, bool, json.Number, float64, float32,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case map[string]any:
		for k, e := range x {
			// An invalid UTF-8 key is sorted before encoding/json
			// replaces its bad bytes, so the order could break.
			if !utf8.ValidString(k) || redactKey(k) || !plain(e, depth+1) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !plain(e, depth+1) {
				return false
			}
		}
		return true
	case []string:
		return true
	}
	return false
}

// canonicalJSONText canonicalises a details document given as JSON text. It is
// the parser the fuzz target drives.
func canonicalJSONText(s string) (string, error) {
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return "", err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", errors.New("audit: details must be a JSON object")
	}
	return CanonicalDetails(m)
}

func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("audit: details: %w", err)
	}
	if dec.More() {
		return nil, errors.New("audit: details: trailing data")
	}
	return v, nil
}

func encodeJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep "<", ">" and "&" readable in the stored text
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("audit: details: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func redact(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if redactKey(k) {
				x[k] = Redacted
				continue
			}
			redact(e)
		}
	case []any:
		for _, e := range x {
			redact(e)
		}
	}
}

// parseDetails turns stored canonical JSON back into a map (numbers as
// json.Number so re-canonicalising reproduces the same text).
func parseDetails(s string) (map[string]any, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("audit: stored details are not a JSON object")
	}
	return m, nil
}

// row is an entry in its stored form: exactly the bytes that are hashed.
type row struct {
	seq, at                                            int64
	actorID, actor, org, action, object, outcome, reas string
	details, remote, prevHash, hash                    string
}

// hasher reuses one SHA-256 state and scratch buffer across entries; verify
// hashes a million rows and the allocations would dominate otherwise.
type hasher struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func newHasher() *hasher { return &hasher{h: sha256.New(), buf: make([]byte, 0, 512)} }

func (hs *hasher) str(s string) {
	hs.buf = binary.BigEndian.AppendUint64(hs.buf, uint64(len(s)))
	hs.buf = append(hs.buf, s...)
}

// entryHash is SHA-256 over a length-prefixed encoding: the tag, seq and time
// as 8-byte big-endian, then every text field as an 8-byte length and its
// bytes. Length prefixes make the encoding unambiguous (no field can borrow
// bytes from its neighbour), and prev_hash in the input makes it a chain.
func (hs *hasher) entryHash(r *row) string {
	hs.buf = hs.buf[:0]
	hs.str(entryTag)
	hs.buf = binary.BigEndian.AppendUint64(hs.buf, uint64(r.seq))
	hs.buf = binary.BigEndian.AppendUint64(hs.buf, uint64(r.at))
	for _, s := range [...]string{r.actorID, r.actor, r.org, r.action, r.object, r.outcome, r.reas, r.details, r.remote, r.prevHash} {
		hs.str(s)
	}
	hs.h.Reset()
	hs.h.Write(hs.buf)
	hs.h.Sum(hs.sum[:0])
	return hex.EncodeToString(hs.sum[:])
}

// checkpointMessage is what a checkpoint's Ed25519 signature covers. The key
// id is inside so a signature cannot be relabelled to another key.
func checkpointMessage(seq int64, hashHex string, at int64, keyID string) []byte {
	var b []byte
	put := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	put(checkpointTag)
	put(keyID)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	put(hashHex)
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	return b
}

func signCheckpoint(key ed25519.PrivateKey, keyID string, seq int64, hashHex string, at int64) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, checkpointMessage(seq, hashHex, at, keyID)))
}

func checkCheckpoint(pub ed25519.PublicKey, c Checkpoint) bool {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, checkpointMessage(c.Seq, c.Hash, c.AtMS, c.KeyID), sig)
}

// ComputeHash recomputes an entry's hash from its fields (Seq, At, PrevHash
// and the rest), the way Append computed it. Tier 1 uses it to check a lower
// site's entries received through federation.
func ComputeHash(e Entry) (string, error) {
	r, err := toRow(e)
	if err != nil {
		return "", err
	}
	return newHasher().entryHash(&r), nil
}

// toRow normalises an entry into its stored form (no seq/hash assigned).
func toRow(e Entry) (row, error) {
	d, err := CanonicalDetails(e.Details)
	if err != nil {
		return row{}, err
	}
	return row{
		seq:      e.Seq,
		at:       e.At.UnixMilli(),
		actorID:  cleanText(e.ActorID),
		actor:    cleanText(e.Actor),
		org:      cleanText(e.Org),
		action:   cleanText(e.Action),
		object:   cleanText(e.Object),
		outcome:  cleanText(e.Outcome),
		reas:     cleanText(e.Reason),
		details:  d,
		remote:   cleanText(e.Remote),
		prevHash: e.PrevHash,
		hash:     e.Hash,
	}, nil
}
