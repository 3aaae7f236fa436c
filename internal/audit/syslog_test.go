package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// rfc5424 is the header the witness writes: PRI, version 1, UTC time with
// milliseconds, host, app, pid, msgid audit-head, no structured data.
var rfc5424 = regexp.MustCompile(`^<109>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ vigil \d+ audit-head - (\{.*\})$`)

func headOf(t *testing.T, msg []byte) []byte {
	t.Helper()
	m := rfc5424.FindSubmatch(msg)
	if m == nil {
		t.Fatalf("not an RFC 5424 witness message: %q", msg)
	}
	return m[1]
}

// readFrames reads octet-counted frames (RFC 6587) until the connection ends.
func readFrames(t *testing.T, conn net.Conn, out chan<- []byte) {
	defer close(out)
	br := bufio.NewReader(conn)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil || size <= 0 || size > 4096 {
			t.Errorf("bad frame length %q", n)
			return
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(br, msg); err != nil {
			t.Errorf("short frame: %v", err)
			return
		}
		out <- msg
	}
}

func TestSyslogWitnessTCP(t *testing.T) {
	db := storetest.SQLite(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sw, err := audit.NewSyslogWitness("tcp://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	wl := newWitnessed(t, db, sw)
	conns := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	collected := audit.NewWitnessed(site, keyFor)
	receive := func(frames <-chan []byte, n int) {
		t.Helper()
		var lines bytes.Buffer
		for range n {
			msg, ok := <-frames
			if !ok {
				t.Fatal("collector connection ended early")
			}
			lines.Write(headOf(t, msg))
			lines.WriteByte('\n')
		}
		if err := collected.Read(&lines, "syslog"); err != nil {
			t.Fatal(err)
		}
	}
	wl.fill(t, 200)
	c1 := <-conns
	frames := make(chan []byte, 10)
	go readFrames(t, c1, frames)
	receive(frames, 2)
	// The collector drops the connection: the witness dials again (a head
	// written into the dead connection may be lost; the next one arrives).
	c1.Close()
	for c2 := (net.Conn)(nil); c2 == nil; {
		wl.fill(t, 100)
		select {
		case c2 = <-conns:
			frames = make(chan []byte, 10)
			go readFrames(t, c2, frames)
			receive(frames, 1)
			defer c2.Close()
		default:
		}
	}
	if collected.Heads() < 3 || collected.Bad != 0 {
		t.Fatalf("collected %d heads, %d bad", collected.Heads(), collected.Bad)
	}
	// What the collector kept is a witness verify can use.
	rep, err := audit.VerifyWitnessed(context.Background(), db, keys, collected)
	if err != nil || !rep.OK {
		t.Fatalf("%+v %v", rep, err)
	}
	cut(t, db, 150)
	if rep, _ := audit.VerifyWitnessed(context.Background(), db, keys, collected); rep.Problem != audit.ProblemWitnessMissing || rep.Missing.From != 151 {
		t.Fatalf("%+v", rep)
	}
}

func TestSyslogWitnessUDP(t *testing.T) {
	db := storetest.SQLite(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	sw, err := audit.NewSyslogWitness("udp://" + pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	wl := newWitnessed(t, db, sw)
	wl.fill(t, 100)
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	h, err := audit.ParseHead(headOf(t, buf[:n]))
	if err != nil || h != wl.w.Last() || !h.Check(pub(siteKey)) {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestSyslogURL(t *testing.T) {
	for _, bad := range []string{"", "syslog.example:514", "http://h:514", "tcp://h", "udp://:514/x", "tcp://u:p@h:514", "tcp://h:514?x=1"} {
		if _, err := audit.NewSyslogWitness(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, _, err := audit.ParseSyslogURL("udp://[::1]:514"); err != nil {
		t.Error(err)
	}
}
