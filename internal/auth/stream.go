package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Stream tokens let RTSP, WebRTC and HLS readers (which cannot carry the
// console's cookie and CSRF header) open one camera for a short time. They
// are stateless so any media node holding the site's key verifies them
// without a database round trip:
//
//	vst1.<base64url user id>.<base64url camera id>.<expiry unix seconds>.<base64url HMAC-SHA256>
//
// The MAC covers everything before the last dot.

const streamPrefix = "vst1"

// maxStreamTokenLen bounds the parse (ids are short; a URL query param
// longer than this is not ours).
const maxStreamTokenLen = 1024

// StreamClaims is what a stream token binds.
type StreamClaims struct {
	UserID    string
	CameraID  string
	ExpiresAt time.Time // whole seconds
}

var b64u = base64.RawURLEncoding

// SignStreamToken returns the token for c under key.
func SignStreamToken(key []byte, c StreamClaims) (string, error) {
	if len(key) < 16 || c.UserID == "" || c.CameraID == "" || c.ExpiresAt.IsZero() {
		return "", ErrStreamTokenInvalid
	}
	body := streamPrefix + "." + b64u.EncodeToString([]byte(c.UserID)) + "." + b64u.EncodeToString([]byte(c.CameraID)) +
		"." + strconv.FormatInt(c.ExpiresAt.Unix(), 10)
	tok := body + "." + b64u.EncodeToString(streamMAC(key, body))
	if len(tok) > maxStreamTokenLen {
		return "", ErrStreamTokenInvalid
	}
	return tok, nil
}

func streamMAC(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// ParseStreamToken verifies tok's MAC under key and its expiry at now. The
// MAC is checked before anything inside is trusted; ErrStreamTokenExpired
// is returned only for an authentic token.
func ParseStreamToken(key []byte, tok string, now time.Time) (StreamClaims, error) {
	var c StreamClaims
	if len(key) == 0 || len(tok) > maxStreamTokenLen {
		return c, ErrStreamTokenInvalid
	}
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return c, ErrStreamTokenInvalid
	}
	body, macPart := tok[:i], tok[i+1:]
	mac, err := b64u.Strict().DecodeString(macPart)
	if err != nil || !hmac.Equal(mac, streamMAC(key, body)) {
		return c, ErrStreamTokenInvalid
	}
	parts := strings.Split(body, ".")
	if len(parts) != 4 || parts[0] != streamPrefix {
		return c, ErrStreamTokenInvalid
	}
	user, err1 := b64u.Strict().DecodeString(parts[1])
	cam, err2 := b64u.Strict().DecodeString(parts[2])
	exp, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || len(user) == 0 || len(cam) == 0 || exp <= 0 {
		return c, ErrStreamTokenInvalid
	}
	c = StreamClaims{UserID: string(user), CameraID: string(cam), ExpiresAt: time.Unix(exp, 0).UTC()}
	if !now.Before(c.ExpiresAt) {
		return StreamClaims{}, ErrStreamTokenExpired
	}
	return c, nil
}

// IssueStreamToken signs a token letting userID read cameraID for ttl (the
// policy default when ttl ≤ 0). Whether the user may see the camera is
// access's decision, made before calling this.
func (s *Service) IssueStreamToken(userID, cameraID string, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 {
		ttl = s.pol.StreamTokenTTL
	}
	// Rounded up to whole seconds: the token carries seconds.
	exp := s.now().Add(ttl + time.Second - 1).Truncate(time.Second).UTC()
	tok, err := SignStreamToken(s.streamKey, StreamClaims{UserID: userID, CameraID: cameraID, ExpiresAt: exp})
	return tok, exp, err
}

// VerifyStreamToken checks tok's signature and expiry and that its user is
// still enabled (a disabled user's outstanding tokens die with the account).
func (s *Service) VerifyStreamToken(ctx context.Context, tok string) (StreamClaims, error) {
	c, err := ParseStreamToken(s.streamKey, tok, s.now())
	if err != nil {
		return c, err
	}
	var disabled bool
	err = s.db.Q().QueryRow(ctx, `SELECT disabled FROM users WHERE id = ?`, c.UserID).Scan(&disabled)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && disabled) {
		return StreamClaims{}, ErrStreamTokenInvalid
	}
	if err != nil {
		return StreamClaims{}, err
	}
	return c, nil
}
