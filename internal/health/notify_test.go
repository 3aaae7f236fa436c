package health_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// smtpServer is a minimal real SMTP listener: it speaks enough of RFC 5321
// for net/smtp and keeps each message.
type smtpServer struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	rcpt []string
}

func startSMTP(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := func(l string) { _, _ = io.WriteString(c, l+"\r\n") }
	w("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			w("250-test")
			w("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			w("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO"):
			s.mu.Lock()
			s.rcpt = append(s.rcpt, strings.TrimSpace(line[8:]))
			s.mu.Unlock()
			w("250 ok")
		case cmd == "DATA":
			w("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.mu.Unlock()
			w("250 queued")
		case cmd == "QUIT":
			w("221 bye")
			return
		default:
			w("250 ok")
		}
	}
}

func (s *smtpServer) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

func TestNotificationsWebhookAndSMTPWithRetry(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	var mu sync.Mutex
	var bodies [][]byte
	var sigOK bool
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 { // the first attempt fails: the outbox must retry
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		m := hmac.New(sha256.New, []byte("s3cret"))
		m.Write(b)
		sigOK = r.Header.Get("X-Vigil-Signature") == "sha256="+hex.EncodeToString(m.Sum(nil))
		bodies = append(bodies, b)
	}))
	defer hook.Close()
	mail := startSMTP(t)
	e := newEnv(t, db, health.NotifyConfig{WebhookURL: hook.URL, WebhookSecret: "s3cret", SMTPAddr: mail.ln.Addr().String(),
		SMTPFrom: "vigil@example.vn", SMTPTo: []string{"ops@vnpt.example.vn"}, RetryMin: 30 * time.Second, RetryMax: time.Hour})

	// Opening returns at once: delivery is the worker's job.
	inc, err := e.svc.Open(ctx, health.Actor{ID: "u", Name: "police", OrgID: "cong-an"},
		health.Report{Category: health.CatCameraDamaged, CameraID: "cam-1", Title: "Camera bị nghiêng"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.DeliverDue(ctx)
	if err != nil || n != 1 {
		t.Fatalf("first round: sent %d (want the e-mail only) err %v", n, err)
	}
	if m := mail.messages(); len(m) != 1 || !strings.Contains(m[0], "Subject: =?utf-8?") || !strings.Contains(m[0], inc.ID) {
		t.Fatalf("mail: %q", m)
	}
	// The webhook failed: not retried before its backoff…
	if n, _ := e.svc.DeliverDue(ctx); n != 0 {
		t.Fatalf("retried too early: %d", n)
	}
	ns, _ := e.svc.Notifications(ctx, inc.ID, 0)
	var hookNote health.Notification
	for _, x := range ns {
		if x.Channel == "webhook" {
			hookNote = x
		}
	}
	if hookNote.State != "pending" || hookNote.Attempts != 1 || !strings.Contains(hookNote.LastError, "503") ||
		!hookNote.NextAt.Equal(e.clk.Now().Add(30*time.Second)) {
		t.Fatalf("webhook outbox row: %+v", hookNote)
	}
	// …and delivered once it is due.
	e.clk.Add(30 * time.Second)
	if n, err := e.svc.DeliverDue(ctx); n != 1 || err != nil {
		t.Fatalf("retry: %d %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || !sigOK {
		t.Fatalf("webhook bodies %d, signature ok %v", len(bodies), sigOK)
	}
	var p struct {
		Event    string          `json:"event"`
		Incident health.Incident `json:"incident"`
	}
	if err := json.Unmarshal(bodies[0], &p); err != nil || p.Event != "incident.opened" || p.Incident.ID != inc.ID || p.Incident.AssignedOrgID != "vnpt" {
		t.Fatalf("payload: %v %s", err, bodies[0])
	}
}

func TestNotificationGivesUpAfterMaxAttempts(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	e := newEnv(t, db, health.NotifyConfig{WebhookURL: "http://127.0.0.1:1/refused", RetryMin: time.Second, RetryMax: 4 * time.Second, MaxAttempts: 3})
	if _, err := e.svc.Open(ctx, health.Actor{ID: "u", Name: "u"}, health.Report{Category: health.CatOther, SystemID: "ioc", Title: "x"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		_, _ = e.svc.DeliverDue(ctx)
		e.clk.Add(time.Minute)
	}
	ns, _ := e.svc.Notifications(ctx, "", 0)
	if len(ns) != 1 || ns[0].State != "failed" || ns[0].Attempts != 3 {
		t.Fatalf("outbox: %+v", ns)
	}
}
