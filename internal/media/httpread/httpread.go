// Package httpread holds what the HTTP readers of the hub (WHEP and LL-HLS)
// share: where a reader's token comes from, the JSON error body, and CORS
// for the origins a site allows. One copy, so the two endpoints cannot drift
// apart on how they authenticate or how they refuse.
package httpread

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/vigil-vms/vigil/internal/media"
)

// Token is the reader's token: `Authorization: Bearer` first (the WHEP
// convention), then `?token=` (HLS players cannot set headers). Any other
// Authorization scheme yields no token rather than falling back to the
// query, so a request is never judged on two credentials at once.
func Token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	return r.URL.Query().Get("token")
}

// Error is the JSON error body shared by all Vigil HTTP endpoints.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError answers status with {code, message}; errors are never cached.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Error{Code: code, Message: msg})
}

// AllowOrigin sets Access-Control-Allow-Origin (and Vary) when the request's
// Origin is in allowed ("*" allows any) and reports whether it did; the
// caller adds the method- and header-specific CORS headers. Tokens travel in
// a header or the URL, never a cookie, so "*" exposes no ambient credential.
func AllowOrigin(w http.ResponseWriter, r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	for _, o := range allowed {
		if o == "*" || strings.EqualFold(o, origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
			return true
		}
	}
	return false
}

// WriteNotAudited answers a reader refused because its start could not be
// written to the audit log (media.ErrNotAudited; fail closed) with the
// reason: 507 disk_full for a full disk, 503 audit_unavailable otherwise.
// It reports whether err was such a refusal (and nothing was written when
// not).
func WriteNotAudited(w http.ResponseWriter, err error) bool {
	switch {
	case errors.Is(err, media.ErrDiskFull):
		WriteError(w, http.StatusInsufficientStorage, "disk_full",
			"Hết dung lượng đĩa: không ghi được nhật ký nên không mở luồng xem trực tiếp. Disk full: the live view cannot be written to the audit log, so it was refused.")
	case errors.Is(err, media.ErrNotAudited):
		WriteError(w, http.StatusServiceUnavailable, "audit_unavailable",
			"Không ghi được nhật ký nên không mở luồng xem trực tiếp. The audit log cannot be written, so the live view was refused.")
	default:
		return false
	}
	return true
}
