package ops

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/store"
)

// Report is the yearly compliance report and cost estimate (R-OPS-4, and the
// regulation's other checks).
type Report struct {
	Year        int       `json:"year"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	GeneratedAt time.Time `json:"generated_at"`

	Cameras          int      `json:"cameras"`
	CamerasConnected int      `json:"cameras_connected" doc:"cameras connected at least once: this site's own from their first frame, a lower site's from their first online status shipped up"`
	ConnectionRate   float64  `json:"connection_rate_pct"`
	ConnectOverdue   []string `json:"connect_overdue" doc:"installed or changed more than 5 days ago and not connected (R-FED-2)"`
	UptimePct        float64  `json:"uptime_pct" doc:"online share of the time the platform was running; -1 when nothing was observed"`
	// PlatformDown is the platform's own downtime in the year (up to now),
	// left out of UptimePct and shown here.
	PlatformDownHours  float64 `json:"platform_down_hours"`
	PlatformDownSpans  int     `json:"platform_down_spans" doc:"how many times the platform was down"`
	Incidents          int     `json:"incidents"`
	IncidentsResolved  int     `json:"incidents_resolved"`
	IncidentsInTime    int     `json:"incidents_within_deadline"`
	IncidentsInTimePct float64 `json:"incidents_within_deadline_pct" doc:"of the resolved ones; -1 when none"`
	IncidentsOpenLate  int     `json:"incidents_open_overdue"`
	RetentionDays      int     `json:"retention_days" doc:"configured"`
	RetentionCompliant bool    `json:"retention_compliant" doc:"every camera of the site holds at least 30 days of footage in the index (R-OPS-2)"`
	// FootageDaysMin is the least footage any of the site's cameras holds
	// (days from its oldest indexed segment to now): the retention kept, not
	// the one configured. -1 when the site has no camera to record.
	FootageDaysMin float64 `json:"footage_days_min"`
	// RetentionByCamera is each camera's effective recording policy and the
	// footage it holds (from the segment index), when the site records.
	RetentionByCamera     []CameraRetention `json:"retention_by_camera"`
	RetentionNonCompliant int               `json:"retention_cameras_non_compliant"`
	ReviewCampaigns       int               `json:"review_campaigns_closed"`
	AccountsConfirmed     int               `json:"accounts_confirmed"`
	AccountsRevoked       int               `json:"accounts_revoked"`
	MaintenanceDone       int               `json:"maintenance_records"`
	MaintenanceSpent      int64             `json:"maintenance_spent" doc:"VND spent in the year"`
	MaintenanceOverdue    int               `json:"maintenance_plans_overdue"`
	Cost                  Estimate          `json:"cost_estimate_next_year"`
}

// CameraRetention is one camera's retention: its policy as the recorder
// applies it and the footage its segment index holds.
type CameraRetention struct {
	CameraID      string    `json:"camera_id"`
	Mode          string    `json:"mode" doc:"always, schedule or off"`
	RetentionDays int       `json:"retention_days" doc:"configured"`
	OldestFootage time.Time `json:"oldest_footage,omitzero"`
	FootageDays   float64   `json:"footage_days" doc:"days between the oldest footage held and now"`
	// Kept is the footage held in the required window (the last 30 days),
	// from the index (filled by CameraRetention).
	Kept time.Duration `json:"-"`
	// GapHours is the time without footage in the required window since
	// the oldest footage (camera offline, recording stopped, footage lost).
	GapHours  float64 `json:"gap_hours"`
	Compliant bool    `json:"compliant" doc:"recording on, policy at least 30 days, and footage held for at least 30 days"`
	// Status says why: ok, off (not recording), policy_short (kept less
	// than 30 days by policy), no_footage, short (less than 30 days held).
	Status string `json:"status"`
}

// RequiredRetention is the regulation's minimum (R-OPS-2).
const RequiredRetention = 30 * 24 * time.Hour

// retentionSlack: retention deletes whole segments, and the oldest kept
// may start a little after the 30-day mark.
const retentionSlack = time.Hour

// judge sets the camera's derived fields from what the index holds.
func (c *CameraRetention) judge(now time.Time) {
	if !c.OldestFootage.IsZero() {
		c.FootageDays = math.Round(10*now.Sub(c.OldestFootage).Hours()/24) / 10
		start := now.Add(-RequiredRetention)
		if c.OldestFootage.After(start) {
			start = c.OldestFootage
		}
		win := now.Sub(start)
		c.GapHours = math.Round(10*max(win-c.Kept, 0).Hours()) / 10
	}
	switch {
	case c.Mode == "off":
		c.Status = "off"
	case c.RetentionDays < 30:
		c.Status = "policy_short"
	case c.OldestFootage.IsZero():
		c.Status = "no_footage"
	case now.Sub(c.OldestFootage) < RequiredRetention-retentionSlack:
		c.Status = "short"
	default:
		c.Status = "ok"
	}
	c.Compliant = c.Status == "ok"
}

// Estimate is next year's cost (whole VND) from the records.
type Estimate struct {
	Year        int      `json:"year"`
	Operation   int64    `json:"operation" doc:"sum of the assets' yearly operating cost"`
	Maintenance int64    `json:"maintenance" doc:"planned occurrences × estimate"`
	Replacement int64    `json:"replacement" doc:"purchase cost of assets due for replacement that year"`
	Total       int64    `json:"total"`
	Replace     []string `json:"replace_assets"`
}

func pct(a, b int) float64 {
	if b == 0 {
		return -1
	}
	return math.Round(1000*float64(a)/float64(b)) / 10
}

// BuildReport computes the report of a calendar year in loc.
func (s *Service) BuildReport(ctx context.Context, year int, loc *time.Location) (*Report, error) {
	if year < 2000 || year > 2200 {
		return nil, inputErr("year", "out_of_range", "must be 2000–2200")
	}
	if loc == nil {
		loc = time.UTC
	}
	from := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	to := from.AddDate(1, 0, 0)
	now := s.now()
	r := &Report{Year: year, From: from, To: to, GeneratedAt: now, ConnectOverdue: []string{}, RetentionDays: s.opt.RetentionDays}
	// Retention is judged from the footage the index holds, not from the
	// configuration: a camera with no footage, or less than 30 days of it,
	// does not comply, whatever its policy says.
	r.RetentionCompliant = s.opt.RetentionDays >= 30 && s.opt.CameraRetention != nil
	r.RetentionByCamera = []CameraRetention{}
	r.FootageDaysMin = -1
	if s.opt.CameraRetention != nil {
		cr, err := s.opt.CameraRetention(ctx, now.Add(-RequiredRetention))
		if err != nil {
			return nil, err
		}
		for i := range cr {
			c := &cr[i]
			c.judge(now)
			if c.Mode != "off" && (r.FootageDaysMin < 0 || c.FootageDays < r.FootageDaysMin) {
				r.FootageDaysMin = c.FootageDays
			}
			if !c.Compliant {
				r.RetentionNonCompliant++
				r.RetentionCompliant = false
			}
		}
		r.RetentionByCamera = cr
	}
	q := s.opt.DB.Q()

	rows, err := q.Query(ctx, `SELECT id, installed_at, changed_at, first_connected_at FROM cameras ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		var inst, chg, first int64
		if err := rows.Scan(&id, &inst, &chg, &first); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
		r.Cameras++
		if first > 0 {
			r.CamerasConnected++
		}
		ref := max(inst, chg)
		if ref > 0 && first < ref && now.After(store.Time(ref).Add(s.opt.ConnectDeadline)) {
			r.ConnectOverdue = append(r.ConnectOverdue, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	r.ConnectionRate = pct(r.CamerasConnected, r.Cameras)

	r.UptimePct = -1
	if s.opt.Health != nil {
		u, err := s.opt.Health.GroupUptime(ctx, ids, from, to)
		if err != nil {
			return nil, err
		}
		if u.Ratio >= 0 {
			r.UptimePct = math.Round(u.Ratio*1000) / 10
		}
		d, err := s.opt.Health.Downtime(ctx, from, to)
		if err != nil {
			return nil, err
		}
		r.PlatformDownHours = math.Round(10*d.Down.Hours()) / 10
		r.PlatformDownSpans = len(d.Spans)
		incs, err := s.opt.Health.List(ctx, health.Filter{From: from, To: to, Limit: 5000})
		if err != nil {
			return nil, err
		}
		for _, i := range incs {
			r.Incidents++
			if !i.ResolvedAt.IsZero() {
				r.IncidentsResolved++
				if i.WithinDeadline() {
					r.IncidentsInTime++
				}
			} else if i.Overdue {
				r.IncidentsOpenLate++
			}
		}
		r.IncidentsInTimePct = pct(r.IncidentsInTime, r.IncidentsResolved)
	}

	if err := q.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(confirmed), 0), COALESCE(SUM(revoked), 0) FROM review_campaigns
		WHERE state = 'closed' AND closed_at >= ? AND closed_at < ?`, store.MS(from), store.MS(to)).
		Scan(&r.ReviewCampaigns, &r.AccountsConfirmed, &r.AccountsRevoked); err != nil {
		return nil, fmt.Errorf("reviews: %w", err)
	}
	if err := q.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(cost), 0) FROM maintenance_records WHERE done_at >= ? AND done_at < ?`,
		store.MS(from), store.MS(to)).Scan(&r.MaintenanceDone, &r.MaintenanceSpent); err != nil {
		return nil, fmt.Errorf("maintenance: %w", err)
	}
	plans, err := s.Plans(ctx, false)
	if err != nil {
		return nil, err
	}
	next := year + 1
	nFrom, nTo := time.Date(next, 1, 1, 0, 0, 0, 0, loc), time.Date(next+1, 1, 1, 0, 0, 0, 0, loc)
	r.Cost = Estimate{Year: next, Replace: []string{}}
	for _, p := range plans {
		if p.Overdue {
			r.MaintenanceOverdue++
		}
		// occurrences in the next year: due dates stepping every_days
		step := time.Duration(p.EveryDays) * 24 * time.Hour
		d := p.NextDue
		if d.Before(nFrom) {
			d = d.Add(step * time.Duration((nFrom.Sub(d)+step-1)/step))
		}
		for ; d.Before(nTo); d = d.Add(step) {
			r.Cost.Maintenance += p.CostEstimate
		}
	}
	assets, err := s.Assets(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, a := range assets {
		r.Cost.Operation += a.YearlyOpCost
		if !a.ReplaceDue.IsZero() && a.ReplaceDue.Before(nTo) {
			r.Cost.Replacement += a.PurchaseCost
			r.Cost.Replace = append(r.Cost.Replace, a.ID)
		}
	}
	r.Cost.Total = r.Cost.Operation + r.Cost.Maintenance + r.Cost.Replacement
	return r, nil
}

// Rows is the report as label/value rows (CSV and XLSX).
func (r *Report) Rows() [][]string {
	f := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", v)
	}
	d := func(v int) string { return fmt.Sprint(v) }
	m := func(v int64) string { return fmt.Sprint(v) }
	rows := [][]string{
		{"Chỉ tiêu / Item", "Giá trị / Value"},
		{"Năm / Year", d(r.Year)},
		{"Số camera / Cameras", d(r.Cameras)},
		{"Đã kết nối cấp I / Connected to tier 1", d(r.CamerasConnected)},
		{"Tỷ lệ kết nối (%) / Connection rate", f(r.ConnectionRate)},
		{"Quá hạn kết nối 5 ngày / Connection overdue", d(len(r.ConnectOverdue))},
		{"Thời gian hoạt động (%) / Uptime", f(r.UptimePct)},
		{"Nền tảng ngừng hoạt động (giờ) / Platform downtime (hours)", fmt.Sprintf("%.1f", r.PlatformDownHours)},
		{"Số lần nền tảng ngừng / Platform outages", d(r.PlatformDownSpans)},
		{"Sự cố / Incidents", d(r.Incidents)},
		{"Đã khắc phục / Resolved", d(r.IncidentsResolved)},
		{"Khắc phục trong hạn / Within deadline", d(r.IncidentsInTime)},
		{"Tỷ lệ trong hạn (%) / Within deadline", f(r.IncidentsInTimePct)},
		{"Đang quá hạn / Open overdue", d(r.IncidentsOpenLate)},
		{"Lưu trữ cấu hình (ngày) / Retention configured (days)", d(r.RetentionDays)},
		{"Dữ liệu lưu ít nhất (ngày) / Least footage held (days)", f(r.FootageDaysMin)},
		{"Đạt lưu trữ 30 ngày / Retention compliant", fmt.Sprint(r.RetentionCompliant)},
		{"Camera chưa đạt lưu trữ / Cameras below retention", d(r.RetentionNonCompliant)},
		{"Đợt rà soát tài khoản / Account reviews", d(r.ReviewCampaigns)},
		{"Tài khoản xác nhận / Confirmed", d(r.AccountsConfirmed)},
		{"Tài khoản thu hồi / Revoked", d(r.AccountsRevoked)},
		{"Lần bảo trì / Maintenance records", d(r.MaintenanceDone)},
		{"Chi phí bảo trì (VND) / Maintenance spent", m(r.MaintenanceSpent)},
		{"Kế hoạch bảo trì quá hạn / Plans overdue", d(r.MaintenanceOverdue)},
		{fmt.Sprintf("Dự toán %d: vận hành (VND) / Operation", r.Cost.Year), m(r.Cost.Operation)},
		{fmt.Sprintf("Dự toán %d: bảo trì (VND) / Maintenance", r.Cost.Year), m(r.Cost.Maintenance)},
		{fmt.Sprintf("Dự toán %d: thay thế (VND) / Replacement", r.Cost.Year), m(r.Cost.Replacement)},
		{fmt.Sprintf("Dự toán %d: tổng (VND) / Total", r.Cost.Year), m(r.Cost.Total)},
	}
	for _, id := range r.ConnectOverdue {
		rows = append(rows, []string{"Camera quá hạn kết nối / Connection overdue", id})
	}
	return rows
}
