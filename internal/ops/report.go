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

	Cameras            int      `json:"cameras"`
	CamerasConnected   int      `json:"cameras_connected" doc:"cameras that reached tier 1 at least once"`
	ConnectionRate     float64  `json:"connection_rate_pct"`
	ConnectOverdue     []string `json:"connect_overdue" doc:"installed or changed more than 5 days ago and not connected (R-FED-2)"`
	UptimePct          float64  `json:"uptime_pct" doc:"-1 when nothing was observed"`
	Incidents          int      `json:"incidents"`
	IncidentsResolved  int      `json:"incidents_resolved"`
	IncidentsInTime    int      `json:"incidents_within_deadline"`
	IncidentsInTimePct float64  `json:"incidents_within_deadline_pct" doc:"of the resolved ones; -1 when none"`
	IncidentsOpenLate  int      `json:"incidents_open_overdue"`
	RetentionDays      int      `json:"retention_days"`
	RetentionCompliant bool     `json:"retention_compliant" doc:"the site and every camera keep at least 30 days (R-OPS-2)"`
	// RetentionByCamera is each camera's effective recording policy and the
	// footage it holds (from the recorder), when the site records.
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

// CameraRetention is one camera's retention as the recorder applies it.
type CameraRetention struct {
	CameraID      string    `json:"camera_id"`
	Mode          string    `json:"mode" doc:"always, schedule or off"`
	RetentionDays int       `json:"retention_days"`
	OldestFootage time.Time `json:"oldest_footage,omitzero"`
	FootageDays   float64   `json:"footage_days" doc:"days between the oldest footage held and now"`
	Compliant     bool      `json:"compliant" doc:"recording is on and footage is kept at least 30 days"`
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
	r.RetentionCompliant = s.opt.RetentionDays >= 30
	r.RetentionByCamera = []CameraRetention{}
	if s.opt.CameraRetention != nil {
		cr, err := s.opt.CameraRetention(ctx)
		if err != nil {
			return nil, err
		}
		for i := range cr {
			c := &cr[i]
			c.Compliant = c.Mode != "off" && c.RetentionDays >= 30
			if !c.OldestFootage.IsZero() {
				c.FootageDays = math.Round(10*now.Sub(c.OldestFootage).Hours()/24) / 10
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
		{"Sự cố / Incidents", d(r.Incidents)},
		{"Đã khắc phục / Resolved", d(r.IncidentsResolved)},
		{"Khắc phục trong hạn / Within deadline", d(r.IncidentsInTime)},
		{"Tỷ lệ trong hạn (%) / Within deadline", f(r.IncidentsInTimePct)},
		{"Đang quá hạn / Open overdue", d(r.IncidentsOpenLate)},
		{"Lưu trữ (ngày) / Retention days", d(r.RetentionDays)},
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
