package record

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Recording modes.
const (
	ModeAlways   = "always"
	ModeOff      = "off"
	ModeSchedule = "schedule"
)

// MinRetentionDays is the regulation's floor (R-OPS-2, Đ11).
const MinRetentionDays = 30

// Schedule is a weekly recording schedule: for each weekday, the minutes of
// the day (site time) when recording is on. Its text form is a list of
// "days hh:mm-hh:mm" rules separated by ';', days being mon..sun, ranges like
// mon-fri, or '*':
//
//	mon-fri 07:00-19:00; sat,sun 08:00-12:00; * 22:00-24:00
type Schedule struct {
	rules []schedRule
}

type schedRule struct {
	days     uint8 // bit per weekday, Sunday = bit 0 (time.Weekday)
	from, to int   // minutes of the day, to exclusive, to may be 1440
}

var dayNames = map[string]time.Weekday{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

const maxScheduleLen = 1024

// ParseSchedule parses the text form; an empty text is an empty schedule
// (never records).
func ParseSchedule(s string) (Schedule, error) {
	var out Schedule
	if len(s) > maxScheduleLen {
		return out, errors.New("schedule too long")
	}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Fields(part)
		if len(f) != 2 {
			return out, fmt.Errorf("rule %q: want \"days hh:mm-hh:mm\"", part)
		}
		days, err := parseDays(strings.ToLower(f[0]))
		if err != nil {
			return out, fmt.Errorf("rule %q: %w", part, err)
		}
		a, b, ok := strings.Cut(f[1], "-")
		if !ok {
			return out, fmt.Errorf("rule %q: want a time range hh:mm-hh:mm", part)
		}
		from, err := parseClock(a)
		if err != nil {
			return out, fmt.Errorf("rule %q: %w", part, err)
		}
		to, err := parseClock(b)
		if err != nil {
			return out, fmt.Errorf("rule %q: %w", part, err)
		}
		if to <= from {
			return out, fmt.Errorf("rule %q: the end must be after the start", part)
		}
		out.rules = append(out.rules, schedRule{days: days, from: from, to: to})
	}
	return out, nil
}

func parseDays(s string) (uint8, error) {
	if s == "*" {
		return 0x7f, nil
	}
	var m uint8
	for _, item := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(item, "-")
		da, ok := dayNames[a]
		if !ok {
			return 0, fmt.Errorf("unknown day %q", a)
		}
		if !isRange {
			m |= 1 << da
			continue
		}
		db, ok := dayNames[b]
		if !ok {
			return 0, fmt.Errorf("unknown day %q", b)
		}
		for d := da; ; d = (d + 1) % 7 {
			m |= 1 << d
			if d == db {
				break
			}
		}
	}
	return m, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return hh*60 + mm, nil
}

// On reports whether the schedule records at t (in t's location).
func (s Schedule) On(t time.Time) bool {
	wd := t.Weekday()
	min := t.Hour()*60 + t.Minute()
	for _, r := range s.rules {
		if r.days&(1<<wd) != 0 && min >= r.from && min < r.to {
			return true
		}
	}
	return false
}

// String is the canonical text form.
func (s Schedule) String() string {
	names := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	var parts []string
	for _, r := range s.rules {
		var ds []string
		if r.days == 0x7f {
			ds = []string{"*"}
		} else {
			for d := 0; d < 7; d++ {
				if r.days&(1<<d) != 0 {
					ds = append(ds, names[d])
				}
			}
		}
		parts = append(parts, fmt.Sprintf("%s %02d:%02d-%02d:%02d", strings.Join(ds, ","), r.from/60, r.from%60, r.to/60, r.to%60))
	}
	return strings.Join(parts, "; ")
}

// Policy is a camera's or a system's recording settings. Empty Mode and zero
// RetentionDays inherit (camera → system → site).
type RecordingPolicy struct {
	Scope         string    `json:"scope" doc:"camera:<id> or system:<id>"`
	Mode          string    `json:"mode" enum:"always,off,schedule," doc:"always, off, schedule; empty inherits"`
	Schedule      string    `json:"schedule,omitempty" doc:"weekly schedule, e.g. \"mon-fri 07:00-19:00; sat 08:00-12:00\""`
	RetentionDays int       `json:"retention_days,omitempty" doc:"days footage is kept; 0 inherits; below 30 needs legal_override"`
	LegalOverride string    `json:"legal_override,omitempty" doc:"the legal basis for keeping footage less than 30 days (R-OPS-2)"`
	UpdatedBy     string    `json:"updated_by,omitempty"`
	UpdatedAt     time.Time `json:"updated_at,omitempty"`
}

// ValidationError names the field at fault.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Validate checks a policy as an operator would set it.
func (p RecordingPolicy) Validate() error {
	kind, id, ok := strings.Cut(p.Scope, ":")
	if !ok || (kind != "camera" && kind != "system") || !validID(id) {
		return &ValidationError{"scope", "want camera:<id> or system:<id>"}
	}
	switch p.Mode {
	case "", ModeAlways, ModeOff:
	case ModeSchedule:
		if strings.TrimSpace(p.Schedule) == "" {
			return &ValidationError{"schedule", "a schedule is required in mode schedule"}
		}
	default:
		return &ValidationError{"mode", "want always, off or schedule"}
	}
	if _, err := ParseSchedule(p.Schedule); err != nil {
		return &ValidationError{"schedule", err.Error()}
	}
	if p.RetentionDays < 0 || p.RetentionDays > 3650 {
		return &ValidationError{"retention_days", "must be between 0 and 3650"}
	}
	if p.RetentionDays > 0 && p.RetentionDays < MinRetentionDays && strings.TrimSpace(p.LegalOverride) == "" {
		return &ValidationError{"retention_days", fmt.Sprintf("footage must be kept at least %d days (R-OPS-2); a shorter period needs legal_override", MinRetentionDays)}
	}
	if len(p.LegalOverride) > 500 {
		return &ValidationError{"legal_override", "at most 500 characters"}
	}
	return nil
}

// Effective is a camera's resolved policy.
type Effective struct {
	Mode          string
	Schedule      Schedule
	RetentionDays int
}

// resolve merges camera, system and site settings.
func resolve(cam, sys *RecordingPolicy, siteMode string, siteDays int) Effective {
	e := Effective{Mode: siteMode, RetentionDays: siteDays}
	for _, p := range []*RecordingPolicy{sys, cam} {
		if p == nil {
			continue
		}
		if p.Mode != "" {
			e.Mode = p.Mode
			e.Schedule, _ = ParseSchedule(p.Schedule)
		}
		if p.RetentionDays > 0 {
			e.RetentionDays = p.RetentionDays
		}
	}
	return e
}

// Wants reports whether the camera should record at t.
func (e Effective) Wants(t time.Time) bool {
	switch e.Mode {
	case ModeAlways:
		return true
	case ModeSchedule:
		return e.Schedule.On(t)
	}
	return false
}

func validID(id string) bool {
	if id == "" || len(id) > 64 || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidID reports whether id is safe as one path element (camera ids).
func ValidID(id string) bool { return validID(id) }
