package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// headTag separates a witnessed head's signed message from an entry hash and
// from a database checkpoint (which does not name the site).
const headTag = "vigil/audit/head/v1"

// MaxHeadLine bounds one witness line; a real line is about 250 bytes.
const MaxHeadLine = 1024

// SignedHead is one witnessed statement "site's audit entry seq has this
// hash", signed by the site key. It is what goes to the witnesses outside
// the database (the checkpoint file, tier 1, a remote syslog), one JSON line
// each. The signature covers the site id too, so a head of one site can
// never be shown as another's.
type SignedHead struct {
	Site      string `json:"site"`
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"`
	AtMS      int64  `json:"at"`
	KeyID     string `json:"key_id"`
	Signature string `json:"sig"`
}

var (
	siteIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	keyIDRe  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

func headMessage(site string, seq int64, hashHex string, at int64, keyID string) []byte {
	var b []byte
	put := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	put(headTag)
	put(keyID)
	put(site)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	put(hashHex)
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	return b
}

// SignHead signs site's head (seq, hash) at time at (unix ms).
func SignHead(key ed25519.PrivateKey, keyID, site string, seq int64, hashHex string, at int64) SignedHead {
	return SignedHead{Site: site, Seq: seq, Hash: hashHex, AtMS: at, KeyID: keyID,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, headMessage(site, seq, hashHex, at, keyID)))}
}

// Check reports whether pub signed h.
func (h SignedHead) Check(pub ed25519.PublicKey) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(h.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, headMessage(h.Site, h.Seq, h.Hash, h.AtMS, h.KeyID), sig)
}

// Valid checks the form of h (not its signature).
func (h SignedHead) Valid() error {
	switch {
	case !siteIDRe.MatchString(h.Site):
		return errors.New("bad site id")
	case h.Seq < 1:
		return errors.New("seq must be at least 1")
	case len(h.Hash) != 64 || !isLowerHex(h.Hash):
		return errors.New("hash must be 64 lower-case hex digits")
	case h.AtMS <= 0:
		return errors.New("time must be positive")
	case !keyIDRe.MatchString(h.KeyID):
		return errors.New("bad key id")
	case base64.StdEncoding.DecodedLen(len(h.Signature)) < ed25519.SignatureSize || len(h.Signature) > 100:
		return errors.New("bad signature encoding")
	}
	return nil
}

func isLowerHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && bytes.Equal([]byte(s), bytes.ToLower([]byte(s)))
}

// Line is h as one witness line (JSON and a newline).
func (h SignedHead) Line() []byte {
	b, _ := json.Marshal(h)
	return append(b, '\n')
}

// At is the time the head was signed.
func (h SignedHead) At() time.Time { return time.UnixMilli(h.AtMS).UTC() }

// ParseHead reads one witness line (without its newline). Unknown fields,
// duplicate fields, trailing data and malformed values are refused: a
// witness line has exactly one reading.
func ParseHead(line []byte) (SignedHead, error) {
	var h SignedHead
	line = bytes.TrimRight(line, "\r")
	if len(line) == 0 {
		return h, errors.New("empty line")
	}
	if len(line) > MaxHeadLine {
		return h, errors.New("line too long")
	}
	if err := noDuplicateKeys(line); err != nil {
		return h, err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("not a witness line: %w", err)
	}
	if dec.More() {
		return h, errors.New("trailing data")
	}
	if err := h.Valid(); err != nil {
		return h, err
	}
	return h, nil
}

// noDuplicateKeys refuses an object that names a field twice (encoding/json
// would keep the last, so two readers could disagree on the line).
func noDuplicateKeys(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not a witness line: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a witness line: not an object")
	}
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not a witness line: %w", err)
		}
		key, _ := k.(string)
		if seen[key] {
			return fmt.Errorf("duplicate field %q", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("not a witness line: %w", err)
		}
	}
	return nil
}

// ict is Vietnam's time (UTC+7 all year), for the texts people read.
var ict = time.FixedZone("ICT", 7*3600)

// displayTime is t as dd/mm/yyyy HH:mm in Asia/Ho_Chi_Minh.
func displayTime(ms int64) string { return time.UnixMilli(ms).In(ict).Format("02/01/2006 15:04") }
