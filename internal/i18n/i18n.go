// Package i18n holds the user-facing messages of the API and CLI. Vietnamese
// is the default language; English is available (Accept-Language: en, or
// ?lang=en). A message is looked up by its machine-readable code, the same code
// the API returns, so clients may also translate on their own.
package i18n

import (
	"net/http"
	"strings"
)

// Lang is vi or en.
type Lang string

const (
	VI Lang = "vi"
	EN Lang = "en"
)

// Default is the language used when a request does not ask for one.
var Default = VI

type pair struct{ vi, en string }

var messages = map[string]pair{
	"bad_request":              {"Yêu cầu không hợp lệ", "The request is not valid"},
	"invalid_input":            {"Dữ liệu không hợp lệ", "The input is not valid"},
	"unknown_field":            {"Trường không được hỗ trợ", "Unknown field"},
	"body_too_large":           {"Nội dung yêu cầu quá lớn", "The request body is too large"},
	"unauthenticated":          {"Cần đăng nhập", "Sign-in required"},
	"invalid_credentials":      {"Tên đăng nhập hoặc mật khẩu không đúng", "Wrong user name or password"},
	"totp_required":            {"Cần mã xác thực hai lớp (TOTP)", "A two-factor (TOTP) code is required"},
	"password_change_required": {"Cần đổi mật khẩu trước khi tiếp tục", "You must change your password first"},
	"weak_password":            {"Mật khẩu không đạt yêu cầu: tối thiểu 8 ký tự, có chữ hoa, chữ thường, chữ số và ký tự đặc biệt", "Password too weak: at least 8 characters with upper, lower, digit and symbol"},
	"password_reused":          {"Không được dùng lại 5 mật khẩu gần nhất", "One of the last 5 passwords cannot be reused"},
	"csrf":                     {"Thiếu hoặc sai mã chống giả mạo (CSRF)", "Missing or wrong CSRF token"},
	"forbidden":                {"Không có quyền thực hiện thao tác này", "You are not allowed to do this"},
	"not_found":                {"Không tìm thấy", "Not found"},
	"conflict":                 {"Dữ liệu đã tồn tại hoặc đã bị thay đổi", "Already exists or was changed meanwhile"},
	"duplicate_id":             {"Mã định danh đã tồn tại", "This id already exists"},
	"version_conflict":         {"Bản ghi đã bị người khác thay đổi; hãy tải lại", "Someone else changed this record; reload it"},
	"rate_limited":             {"Quá nhiều yêu cầu, vui lòng thử lại sau", "Too many requests, try again later"},
	"internal":                 {"Lỗi hệ thống", "Internal error"},
	"unavailable":              {"Dịch vụ tạm thời không sẵn sàng", "Service temporarily unavailable"},
	"disk_full":                {"Hết dung lượng đĩa: hệ thống không ghi được dữ liệu (nhật ký, phiên đăng nhập) nên thao tác bị từ chối", "Disk full: the site cannot write (audit log, sessions), so the action was refused"},
	"db_read_only":             {"Cơ sở dữ liệu đang chỉ cho đọc: thao tác cần ghi bị từ chối", "The database is read-only: actions that must write are refused"},
	"not_ready":                {"Hệ thống chưa sẵn sàng", "The site is not ready"},
	"db_unavailable":           {"Không kết nối được cơ sở dữ liệu", "The database cannot be reached"},
	"public_not_allowed":       {"Chỉ camera tại đường, nút giao hoặc nơi công cộng đông người, không thuộc bí mật nhà nước, mới được chia sẻ công khai", "Only non-classified cameras at roads, intersections or crowded public places may be public"},
	"csv_invalid":              {"Tệp CSV có dòng không hợp lệ; không dòng nào được nhập", "The CSV has invalid rows; nothing was imported"},
	"codec_unsupported":        {"Trình duyệt không phát được mã hoá này; hãy dùng luồng phụ", "The browser cannot play this codec; use the sub stream"},
}

// Text is the message for code in lang; an unknown code is returned as is.
func Text(lang Lang, code string) string {
	p, ok := messages[code]
	if !ok {
		return code
	}
	if lang == EN {
		return p.en
	}
	return p.vi
}

// Has reports whether code has a catalogued message.
func Has(code string) bool { _, ok := messages[code]; return ok }

// FromRequest picks the language: ?lang= first, then Accept-Language, then
// the default.
func FromRequest(r *http.Request) Lang {
	if r == nil {
		return Default
	}
	if l := r.URL.Query().Get("lang"); l != "" {
		return parse(l)
	}
	if c, err := r.Cookie("vigil_lang"); err == nil {
		return parse(c.Value)
	}
	al := r.Header.Get("Accept-Language")
	if al == "" {
		return Default
	}
	first := strings.TrimSpace(strings.Split(al, ",")[0])
	return parse(first)
}

func parse(s string) Lang {
	s = strings.ToLower(s)
	if strings.HasPrefix(s, "en") {
		return EN
	}
	if strings.HasPrefix(s, "vi") {
		return VI
	}
	return Default
}
