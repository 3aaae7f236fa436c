package audit

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// SyslogWitness sends each head to a remote syslog collector as one RFC 5424
// message (facility "log audit", severity notice) whose text is the witness
// line. Over TCP messages are framed by octet counting (RFC 6587); over UDP
// each is one datagram (RFC 5426). The collector is the witness: it keeps
// the lines where the site's database and disks cannot reach them.
//
// log/syslog is not used: it writes the older BSD format (RFC 3164) and
// frames TCP by newline only.
type SyslogWitness struct {
	network, addr string
	host, app     string
	mu            sync.Mutex
	conn          net.Conn
}

// syslogPRI is facility 13 (log audit) × 8 + severity 5 (notice).
const syslogPRI = 13*8 + 5

// ParseSyslogURL checks a witness syslog address: tcp://host:port or
// udp://host:port.
func ParseSyslogURL(raw string) (network, addr string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "udp") || u.Host == "" || u.Port() == "" ||
		u.Path != "" || u.User != nil || u.RawQuery != "" {
		return "", "", fmt.Errorf("want tcp://host:port or udp://host:port, got %q", raw)
	}
	return u.Scheme, u.Host, nil
}

// NewSyslogWitness returns a witness sending to rawURL (see ParseSyslogURL);
// it dials at the first head and again after a failed send.
func NewSyslogWitness(rawURL string) (*SyslogWitness, error) {
	network, addr, err := ParseSyslogURL(rawURL)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "-"
	}
	return &SyslogWitness{network: network, addr: addr, host: host, app: "vigil"}, nil
}

// Name is the sink's name in logs.
func (s *SyslogWitness) Name() string { return "syslog:" + s.network + "://" + s.addr }

// Message is the RFC 5424 message for h (without transport framing).
func (s *SyslogWitness) Message(h SignedHead) []byte {
	line := h.Line()
	return fmt.Appendf(nil, "<%d>1 %s %s %s %d audit-head - %s", syslogPRI,
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), s.host, s.app, os.Getpid(), line[:len(line)-1])
}

// WriteHead sends h; a broken connection is dialled again once.
func (s *SyslogWitness) WriteHead(ctx context.Context, h SignedHead) error {
	msg := s.Message(h)
	if s.network == "tcp" {
		msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for range 2 {
		if s.conn == nil {
			d := net.Dialer{Timeout: 5 * time.Second}
			if s.conn, err = d.DialContext(ctx, s.network, s.addr); err != nil {
				s.conn = nil
				continue
			}
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err = s.conn.Write(msg); err == nil {
			return nil
		}
		s.conn.Close()
		s.conn = nil
	}
	return fmt.Errorf("audit witness %s: %w", s.Name(), err)
}

// Close closes the connection.
func (s *SyslogWitness) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
