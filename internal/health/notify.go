package health

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/smtp"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
)

// NotifyConfig says where incident notifications go. Each change of an
// incident writes one outbox row per destination in the change's own
// transaction; a background worker sends them and retries with exponential
// backoff, so the caller never waits on a webhook or a mail server.
type NotifyConfig struct {
	WebhookURL    string
	WebhookSecret string // HMAC-SHA256 of the body in X-Vigil-Signature, when set
	SMTPAddr      string // host:port
	SMTPFrom      string
	SMTPTo        []string
	SMTPUser      string
	SMTPPassword  string
	RetryMin      time.Duration // 5 s
	RetryMax      time.Duration // 15 min
	MaxAttempts   int           // 10, then the row is marked failed
	Timeout       time.Duration // per attempt; 10 s
}

func (c *NotifyConfig) defaults() {
	if c.RetryMin <= 0 {
		c.RetryMin = 5 * time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = 15 * time.Minute
		if c.RetryMax < c.RetryMin {
			c.RetryMax = c.RetryMin
		}
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

type mailSender func(addr string, a smtp.Auth, from string, to []string, msg []byte) error

func defaultHTTP() httpDoer { return &http.Client{} }

func smtpSend(addr string, a smtp.Auth, from string, to []string, msg []byte) error {
	return smtp.SendMail(addr, a, from, to, msg)
}

// Notification is one outbox row.
type Notification struct {
	ID         string    `json:"id"`
	Channel    string    `json:"channel"`
	Target     string    `json:"target"`
	Subject    string    `json:"subject"`
	Event      string    `json:"event"`
	IncidentID string    `json:"incident_id,omitempty"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts"`
	NextAt     time.Time `json:"next_at"`
	LastError  string    `json:"last_error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	SentAt     time.Time `json:"sent_at,omitzero"`
}

// webhookPayload is what a webhook receives.
type webhookPayload struct {
	Event    string   `json:"event"`
	Incident Incident `json:"incident"`
}

var eventVI = map[string]string{
	"incident.opened":        "Sự cố mới",
	"incident.acknowledged":  "Sự cố đã tiếp nhận",
	"incident.resolved":      "Sự cố đã khắc phục",
	"incident.closed":        "Sự cố đã đóng",
	"incident.open":          "Sự cố mở lại",
	"incident.deadline_near": "Sự cố sắp quá hạn 24 giờ",
	"incident.overdue":       "Sự cố đã quá hạn",
}

func (s *Service) enqueue(ctx context.Context, tx store.Q, event string, i *Incident) error {
	n := s.opt.Notify
	if n.WebhookURL == "" && (n.SMTPAddr == "" || len(n.SMTPTo) == 0) {
		return nil
	}
	now := store.MS(s.now())
	subject := fmt.Sprintf("[Vigil] %s: %s (hạn %s)", eventVI[event], i.Title, i.DeadlineAt.In(vnZone).Format("02/01/2006 15:04"))
	if n.WebhookURL != "" {
		body, err := json.Marshal(webhookPayload{Event: event, Incident: *i})
		if err != nil {
			return err
		}
		if err := insertNote(ctx, tx, "webhook", n.WebhookURL, subject, string(body), event, i.ID, now); err != nil {
			return err
		}
	}
	if n.SMTPAddr != "" {
		body := mailBody(event, i)
		for _, to := range n.SMTPTo {
			if err := insertNote(ctx, tx, "email", to, subject, body, event, i.ID, now); err != nil {
				return err
			}
		}
	}
	return nil
}

var vnZone = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Ho_Chi_Minh"); err == nil {
		return l
	}
	return time.FixedZone("ICT", 7*3600)
}()

func mailBody(event string, i *Incident) string {
	var b strings.Builder
	f := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	f("Sự kiện / Event", event)
	f("Mã sự cố / Incident", i.ID)
	f("Loại / Category", i.Category)
	f("Đối tượng / Object", i.Object)
	f("Đơn vị vận hành / Operating unit", i.AssignedOrgID)
	f("Trạng thái / State", i.State)
	f("Phát hiện / Detected", i.DetectedAt.In(vnZone).Format("02/01/2006 15:04:05"))
	f("Hạn khắc phục / Deadline", i.DeadlineAt.In(vnZone).Format("02/01/2006 15:04:05"))
	f("Mô tả / Description", i.Description)
	f("Kết quả / Resolution", i.Resolution)
	return b.String()
}

func insertNote(ctx context.Context, tx store.Q, channel, target, subject, body, event, incID string, now int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO notifications (id, channel, target, subject, body, event, incident_id, state, attempts, next_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`, newID("nt-"), channel, target, subject, body, event, incID, now, now)
	return err
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) runNotifier(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("notification delivery failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// DeliverDue sends every pending notification whose time has come, once,
// and schedules failures for a retry. It returns how many were sent.
func (s *Service) DeliverDue(ctx context.Context) (int, error) {
	now := s.now()
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT id, channel, target, subject, body, attempts FROM notifications
		WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT 100`, store.MS(now))
	if err != nil {
		return 0, err
	}
	type due struct {
		id, channel, target, subject, body string
		attempts                           int
	}
	var ds []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.channel, &d.target, &d.subject, &d.body, &d.attempts); err != nil {
			rows.Close()
			return 0, err
		}
		ds = append(ds, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	sent := 0
	for _, d := range ds {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		var err error
		switch d.channel {
		case "webhook":
			err = s.postWebhook(ctx, d.target, []byte(d.body))
		case "email":
			err = s.mail(d.target, d.subject, d.body)
		default:
			err = fmt.Errorf("unknown channel %q", d.channel)
		}
		n := d.attempts + 1
		if err == nil {
			sent++
			_, uerr := s.opt.DB.Q().Exec(ctx, `UPDATE notifications SET state = 'sent', attempts = ?, sent_at = ?, last_error = '' WHERE id = ?`,
				n, store.MS(s.now()), d.id)
			if uerr != nil {
				return sent, uerr
			}
			continue
		}
		state := "pending"
		if n >= s.opt.Notify.MaxAttempts {
			state = "failed"
			s.log.Warn("notification given up", "channel", d.channel, "attempts", n, "err", err)
		}
		next := s.now().Add(backoff(n, s.opt.Notify.RetryMin, s.opt.Notify.RetryMax))
		msg := err.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
		if _, uerr := s.opt.DB.Q().Exec(ctx, `UPDATE notifications SET state = ?, attempts = ?, next_at = ?, last_error = ? WHERE id = ?`,
			state, n, store.MS(next), msg, d.id); uerr != nil {
			return sent, uerr
		}
	}
	return sent, nil
}

// backoff is min·2^(n-1), capped at max.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

func (s *Service) postWebhook(ctx context.Context, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.opt.Notify.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil")
	if sec := s.opt.Notify.WebhookSecret; sec != "" {
		m := hmac.New(sha256.New, []byte(sec))
		m.Write(body)
		req.Header.Set("X-Vigil-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	resp, err := s.httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

func (s *Service) mail(to, subject, body string) error {
	n := s.opt.Notify
	var a smtp.Auth
	if n.SMTPUser != "" {
		host := n.SMTPAddr
		if h, _, ok := strings.Cut(host, ":"); ok {
			host = h
		}
		a = smtp.PlainAuth("", n.SMTPUser, n.SMTPPassword, host)
	}
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nDate: %s\r\n\r\n",
		n.SMTPFrom, to, mime.BEncoding.Encode("utf-8", subject), s.now().Format(time.RFC1123Z))
	msg.WriteString(body)
	done := make(chan error, 1)
	go func() { done <- s.sendMail(n.SMTPAddr, a, n.SMTPFrom, []string{to}, msg.Bytes()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(n.Timeout * 3):
		return fmt.Errorf("smtp: no answer from %s", n.SMTPAddr)
	}
}

// Notifications lists the outbox, newest first (for the operators' view).
func (s *Service) Notifications(ctx context.Context, incidentID string, limit int) ([]Notification, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	q := `SELECT id, channel, target, subject, event, incident_id, state, attempts, next_at, last_error, created_at, sent_at FROM notifications`
	var args []any
	if incidentID != "" {
		q += ` WHERE incident_id = ?`
		args = append(args, incidentID)
	}
	q += ` ORDER BY created_at DESC, id LIMIT ?`
	args = append(args, limit)
	rows, err := s.opt.DB.Q().Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		var n Notification
		var next, created, sent int64
		if err := rows.Scan(&n.ID, &n.Channel, &n.Target, &n.Subject, &n.Event, &n.IncidentID, &n.State, &n.Attempts, &next, &n.LastError, &created, &sent); err != nil {
			return nil, err
		}
		n.NextAt, n.CreatedAt, n.SentAt = store.Time(next), store.Time(created), store.Time(sent)
		out = append(out, n)
	}
	return out, rows.Err()
}
