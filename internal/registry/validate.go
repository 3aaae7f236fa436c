package registry

import (
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits of text fields, in characters (runes).
const (
	MaxNameLen      = 200
	MaxAddressLen   = 500
	MaxAdminUnitLen = 200
	MaxConsentLen   = 1000
	MaxURLLen       = 1024
	MaxUserLen      = 128
	MaxPasswordLen  = 256
)

// Transports a camera stream can be pulled with.
var Transports = []string{"tcp", "udp", "rtsps"}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidID reports whether s is a well-formed id. Ids become URL path
// segments, NATS subjects and file names, hence the narrow alphabet.
func ValidID(s string) bool { return idRE.MatchString(s) }

// Fold is the search form of a text: lower case, Vietnamese (and other)
// diacritics removed, đ/Đ → d, runs of white space made one space. Stored in
// search_text on write and applied to the query, so "dien bien" finds
// "Điện Biên" with a plain LIKE on both engines.
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'đ' || r == 'Đ':
			r = 'd'
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// checkText applies the common text rules: valid UTF-8 (PostgreSQL refuses
// anything else, and a garbled spreadsheet export should be caught here), no
// control characters (NUL is refused by PostgreSQL; line breaks in names break
// the tree and the logs), a length limit, and optionally presence.
func checkText(es *ValidationErrors, field, v string, required bool, max int) {
	if !utf8.ValidString(v) {
		es.add(field, "invalid_text", "is not valid UTF-8 text")
		return
	}
	n := utf8.RuneCountInString(v)
	if n > max {
		es.add(field, "too_long", "is %d characters, at most %d allowed", n, max)
		return
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			es.add(field, "invalid_text", "contains a control character")
			return
		}
	}
	if required && strings.TrimSpace(v) == "" {
		es.add(field, "required", "is required")
	}
}

// checkID checks a client-supplied id (empty is allowed when generated).
func checkID(es *ValidationErrors, field, v string, required bool) {
	if v == "" {
		if required {
			es.add(field, "required", "is required")
		}
		return
	}
	if !ValidID(v) {
		es.add(field, "invalid_id", "must be 1–64 characters of a-z 0-9 . _ - starting with a letter or digit")
	}
}

// maskOf checks enum values, naming the first unknown one.
func maskOf(es *ValidationErrors, field string, list []string, vals []string, required bool) Mask {
	var m Mask
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		i := indexOf(list, v)
		if i < 0 {
			es.add(field, "unknown_value", "unknown value %q (allowed: %s)", clip(v, 40), strings.Join(list, ", "))
			return 0
		}
		m |= 1 << uint(i)
	}
	if required && m == 0 {
		es.add(field, "required", "needs at least one of: %s", strings.Join(list, ", "))
	}
	return m
}

// clip shortens a user value quoted back in a message, so a 10 kB input
// does not come back as a 10 kB error.
func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		return "(invalid text)"
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// checkCoordinates applies the WGS-84 ranges. (0, 0) is refused: it is what
// an empty spreadsheet cell or a GPS without a fix produces, never a camera
// in Vietnam.
func checkCoordinates(es *ValidationErrors, lat, lon float64) {
	bad := false
	if math.IsNaN(lat) || math.IsInf(lat, 0) || lat < -90 || lat > 90 {
		es.add("lat", "out_of_range", "latitude must be between -90 and 90")
		bad = true
	}
	if math.IsNaN(lon) || math.IsInf(lon, 0) || lon < -180 || lon > 180 {
		es.add("lon", "out_of_range", "longitude must be between -180 and 180")
		bad = true
	}
	if !bad && lat == 0 && lon == 0 {
		es.add("lat", "missing_location", "location 0,0 is not a real position; give the camera's coordinates")
	}
}

// ParseCoordinate reads a decimal degree as typed in a spreadsheet: a dot or,
// in Vietnamese-locale exports, a single decimal comma. NaN, Inf, hex floats,
// exponents and thousands separators are refused: none is a coordinate a
// person typed, and ParseFloat would otherwise accept "NaN" or "0x1p-2".
func ParseCoordinate(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 {
		return 0, false
	}
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	digits, dots := 0, 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		case (c == '-' || c == '+') && i == 0:
		default:
			return 0, false
		}
	}
	if digits == 0 || dots > 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// credentials are what is sealed for one stream URL.
type credentials struct {
	User string `json:"u"`
	Pass string `json:"p"`
	Set  bool   `json:"s,omitempty"` // a password was given, even an empty one
}

func (c *credentials) empty() bool { return c == nil || (c.User == "" && c.Pass == "") }

// splitStreamURL validates a stream URL and splits off its user info. The
// messages never quote the URL: it may carry a password (R-SEC-3), and
// url.Parse errors quote their input, so they are not passed through.
func splitStreamURL(es *ValidationErrors, field, raw string) (clean string, cred *credentials) {
	if raw == "" {
		return "", nil
	}
	if !utf8.ValidString(raw) || len(raw) > MaxURLLen {
		es.add(field, "invalid_url", "must be an rtsp:// or rtsps:// URL of at most %d bytes", MaxURLLen)
		return "", nil
	}
	for _, r := range raw {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			es.add(field, "invalid_url", "must not contain spaces or control characters")
			return "", nil
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		es.add(field, "invalid_url", "is not a valid URL (a password with special characters belongs in the password field)")
		return "", nil
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		es.add(field, "invalid_scheme", "scheme must be rtsp or rtsps")
		return "", nil
	}
	if u.Opaque != "" || u.Hostname() == "" {
		es.add(field, "invalid_url", "must name a host, as rtsp://host[:port]/path")
		return "", nil
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			es.add(field, "invalid_url", "port must be 1–65535")
			return "", nil
		}
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		es.add(field, "invalid_url", "must not contain '#' (a password with special characters belongs in the password field)")
		return "", nil
	}
	// Credentials in the query (?user=…&password=…, some vendors' style)
	// would be stored and shown in clear: refuse them.
	for k := range u.Query() {
		switch strings.ToLower(k) {
		case "user", "username", "password", "pass", "pwd", "passwd":
			es.add(field, "credentials_in_query", "credentials in the query string are not accepted; use the username and password fields")
			return "", nil
		}
	}
	if u.User != nil {
		p, set := u.User.Password()
		cred = &credentials{User: u.User.Username(), Pass: p, Set: set}
		u.User = nil
	}
	return u.String(), cred
}

// parseDate reads YYYY-MM-DD (the form of a consent's date).
func parseDate(s string) (time.Time, bool) {
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}
