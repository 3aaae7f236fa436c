package auth

import (
	"strings"
)

// Error is an auth failure a handler can show: a stable Code for clients, an
// English and a Vietnamese message. It never carries a secret, and for
// credentials it never says which part was wrong.
type Error struct {
	Code       string   `json:"code"`
	Message    string   `json:"message"`
	MessageVI  string   `json:"message_vi"`
	Violations []string `json:"violations,omitempty"` // password rules broken
}

func (e *Error) Error() string {
	if len(e.Violations) > 0 {
		return "auth: " + e.Message + " (" + strings.Join(e.Violations, ", ") + ")"
	}
	return "auth: " + e.Message
}

// Is matches by Code, so errors.Is(err, ErrPasswordPolicy) holds for any
// policy error whatever its violations.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The errors of this package. Handlers map them to HTTP statuses.
var (
	// ErrInvalidCredentials is the one answer to a failed login, whether the
	// user is unknown, the password or TOTP code wrong, the account locked or
	// disabled: the true reason goes to the audit log only.
	ErrInvalidCredentials = &Error{Code: "invalid_credentials",
		Message: "invalid username or password", MessageVI: "Tên đăng nhập hoặc mật khẩu không đúng"}
	ErrUnauthenticated = &Error{Code: "unauthenticated",
		Message: "session missing or expired", MessageVI: "Phiên đăng nhập không hợp lệ hoặc đã hết hạn"}
	ErrNotFound = &Error{Code: "not_found",
		Message: "user not found", MessageVI: "Không tìm thấy người dùng"}
	ErrTokenNotFound = &Error{Code: "not_found",
		Message: "token not found", MessageVI: "Không tìm thấy mã truy cập"}
	ErrUsernameTaken = &Error{Code: "username_taken",
		Message: "username already in use", MessageVI: "Tên đăng nhập đã được sử dụng"}
	ErrInvalidUsername = &Error{Code: "invalid_username",
		Message:   "username must be 2–64 characters: letters a–z, digits, '.', '_', '-', '@'",
		MessageVI: "Tên đăng nhập gồm 2–64 ký tự: chữ a–z, số, '.', '_', '-', '@'"}
	ErrInvalidInput = &Error{Code: "invalid_input",
		Message: "invalid input", MessageVI: "Dữ liệu không hợp lệ"}
	ErrInvalidRole = &Error{Code: "invalid_role",
		Message:   "unknown role (allowed: admin, operator, viewer, auditor)",
		MessageVI: "Vai trò không hợp lệ (admin, operator, viewer, auditor)"}
	ErrPasswordPolicy = &Error{Code: "password_policy",
		Message:   "password does not meet the policy: at least 8 characters with upper- and lower-case letters, a digit and a symbol, not one of the last 5",
		MessageVI: "Mật khẩu chưa đạt yêu cầu: tối thiểu 8 ký tự, có chữ hoa, chữ thường, chữ số và ký tự đặc biệt, không trùng 5 mật khẩu gần nhất"}
	ErrWrongPassword = &Error{Code: "wrong_password",
		Message: "current password is not correct", MessageVI: "Mật khẩu hiện tại không đúng"}
	ErrTOTPInvalid = &Error{Code: "totp_invalid",
		Message: "invalid or already used code", MessageVI: "Mã xác thực không đúng hoặc đã được sử dụng"}
	ErrTOTPNotPending = &Error{Code: "totp_not_pending",
		Message: "no TOTP enrolment in progress", MessageVI: "Chưa bắt đầu đăng ký xác thực hai lớp"}
	ErrTokenInvalid = &Error{Code: "token_invalid",
		Message: "token invalid, expired or revoked", MessageVI: "Mã truy cập không hợp lệ, đã hết hạn hoặc bị thu hồi"}
	ErrStreamTokenInvalid = &Error{Code: "stream_token_invalid",
		Message: "stream token invalid", MessageVI: "Mã xem luồng không hợp lệ"}
	ErrStreamTokenExpired = &Error{Code: "stream_token_expired",
		Message: "stream token expired", MessageVI: "Mã xem luồng đã hết hạn"}
)

func policyError(violations []string) error {
	e := *ErrPasswordPolicy
	e.Violations = violations
	return &e
}

// RuleText explains each password rule code, in English and Vietnamese, for
// the form that shows PolicyError.Violations.
var RuleText = map[string][2]string{
	RuleTooShort:         {"at least 8 characters", "tối thiểu 8 ký tự"},
	RuleTooLong:          {"at most 256 bytes", "tối đa 256 byte"},
	RuleNeedsUpper:       {"an upper-case letter", "có chữ hoa"},
	RuleNeedsLower:       {"a lower-case letter", "có chữ thường"},
	RuleNeedsDigit:       {"a digit", "có chữ số"},
	RuleNeedsSymbol:      {"a symbol such as ! # @ %", "có ký tự đặc biệt như ! # @ %"},
	RuleContainsUsername: {"must not contain the username", "không được chứa tên đăng nhập"},
	RuleReused:           {"must differ from the last 5 passwords", "không trùng 5 mật khẩu gần nhất"},
	RuleInvalidUTF8:      {"invalid characters", "ký tự không hợp lệ"},
}
