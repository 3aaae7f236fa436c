package httpapi

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/i18n"
)

// APIError is every error the API answers: a machine-readable code, a human
// message in the caller's language, and the field at fault when there is one.
type APIError struct {
	Status  int           `json:"-"`
	Code    string        `json:"code" doc:"machine-readable error code, e.g. invalid_input, forbidden"`
	Message string        `json:"message" doc:"human-readable message (Vietnamese by default, English with Accept-Language: en)"`
	Field   string        `json:"field,omitempty" doc:"the input field at fault"`
	Details []FieldDetail `json:"details,omitempty" doc:"every problem found, e.g. each bad CSV row"`
}

// FieldDetail is one problem of many.
type FieldDetail struct {
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

func (e *APIError) Error() string  { return e.Code + ": " + e.Message }
func (e *APIError) GetStatus() int { return e.Status }

// Err makes an APIError with the catalogued message for code.
func Err(lang i18n.Lang, status int, code, field string) *APIError {
	return &APIError{Status: status, Code: code, Message: i18n.Text(lang, code), Field: field}
}

// ErrMsg makes an APIError with an explicit message (validation rules that
// carry their own text).
func ErrMsg(status int, code, field, msg string) *APIError {
	return &APIError{Status: status, Code: code, Message: msg, Field: field}
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnprocessableEntity:
		return "invalid_input"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "bad_request"
}

// installErrorModel makes huma's own errors (validation, unknown fields, body
// too large) speak our {code, message, field} shape. Huma's validation
// messages are English; the code and field are what clients act on, and the
// message keeps the validator's precise rule behind the localised summary.
func installErrorModel() {
	huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		lang := i18n.Default
		if hctx != nil {
			lang = langOf(hctx)
		}
		for _, e := range errs {
			var ae *APIError
			if errors.As(e, &ae) {
				return ae
			}
		}
		code := codeForStatus(status)
		out := &APIError{Status: status, Code: code, Message: i18n.Text(lang, code)}
		if status == http.StatusRequestEntityTooLarge || strings.Contains(strings.ToLower(msg), "body is too large") {
			out.Status, out.Code, out.Message = http.StatusRequestEntityTooLarge, "body_too_large", i18n.Text(lang, "body_too_large")
		}
		for _, e := range errs {
			if e == nil {
				continue
			}
			var d FieldDetail
			var ed huma.ErrorDetailer
			if errors.As(e, &ed) {
				det := ed.ErrorDetail()
				d.Field = cleanLocation(det.Location)
				d.Message = det.Message
				if m := requiredProp.FindStringSubmatch(det.Message); m != nil {
					d.Field = strings.TrimPrefix(d.Field+"."+m[1], ".")
					d.Code = "required"
				}
				if strings.Contains(det.Message, "unexpected property") {
					d.Code = "unknown_field"
				}
			} else {
				d.Message = e.Error()
			}
			out.Details = append(out.Details, d)
		}
		if len(out.Details) > 0 {
			first := out.Details[0]
			out.Field = first.Field
			if first.Code == "unknown_field" {
				out.Code = "unknown_field"
			}
			out.Message = out.Message + ": " + first.Message
		} else if msg != "" && status < 500 {
			out.Message = out.Message + ": " + msg
		}
		return out
	}
}

var requiredProp = regexp.MustCompile(`required property (\w+)`)

// cleanLocation turns huma's "body.main_url" into "main_url".
func cleanLocation(loc string) string {
	loc = strings.TrimPrefix(loc, "body.")
	loc = strings.TrimPrefix(loc, "body")
	loc = strings.TrimPrefix(loc, "path.")
	loc = strings.TrimPrefix(loc, "query.")
	return loc
}

func langOf(hctx huma.Context) i18n.Lang {
	if l := hctx.Query("lang"); l != "" {
		if strings.HasPrefix(strings.ToLower(l), "en") {
			return i18n.EN
		}
		return i18n.VI
	}
	if c, err := huma.ReadCookie(hctx, "vigil_lang"); err == nil && c != nil {
		if strings.HasPrefix(c.Value, "en") {
			return i18n.EN
		}
		return i18n.VI
	}
	al := strings.ToLower(hctx.Header("Accept-Language"))
	if strings.HasPrefix(al, "en") {
		return i18n.EN
	}
	if strings.HasPrefix(al, "vi") || al == "" {
		return i18n.Default
	}
	return i18n.Default
}
