package media

import (
	"net"
	"sync"
	"time"
)

// Fan-out cost is dominated by one write syscall per RTP packet per reader
// (gortsplib writes each interleaved frame on its own): a 4 Mbit/s camera is
// ~400 packets a second, so 200 readers make 80,000 syscalls a second. A
// frame's packets arrive together, so holding writes for a millisecond or two
// and sending them as one lets the kernel see one write per frame instead of
// ~16. The delay is far below a frame interval and invisible to players.

// coalescingListener wraps every accepted connection in a coalescingConn.
type coalescingListener struct {
	net.Listener
	delay time.Duration
	max   int
}

func (l coalescingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newCoalescingConn(c, l.delay, l.max), nil
}

// coalescingConn buffers writes and flushes them after delay, or at once
// when max bytes are waiting. A write error is reported by the next Write
// (the connection is then closed by its owner, as with any write error).
type coalescingConn struct {
	net.Conn
	delay time.Duration
	max   int

	mu      sync.Mutex
	buf     []byte
	spare   []byte
	armed   bool
	err     error
	timer   *time.Timer
	closing bool
}

func newCoalescingConn(c net.Conn, delay time.Duration, max int) *coalescingConn {
	cc := &coalescingConn{Conn: c, delay: delay, max: max}
	cc.timer = time.AfterFunc(time.Hour, cc.timedFlush)
	cc.timer.Stop()
	return cc
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= c.max {
		err := c.flushLocked()
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if !c.armed {
		c.armed = true
		c.timer.Reset(c.delay)
	}
	c.mu.Unlock()
	return len(p), nil
}

// flushLocked writes what is buffered. It holds the lock across the write so
// bytes keep their order; the underlying write has the deadline gortsplib set.
func (c *coalescingConn) flushLocked() error {
	c.armed = false
	if len(c.buf) == 0 {
		return c.err
	}
	out := c.buf
	c.buf, c.spare = c.spare[:0], nil
	_, err := c.Conn.Write(out)
	c.spare = out[:0]
	if err != nil && c.err == nil {
		c.err = err
	}
	return c.err
}

func (c *coalescingConn) timedFlush() {
	c.mu.Lock()
	_ = c.flushLocked()
	c.mu.Unlock()
}

// Close sends what is buffered (a last response, say) before closing.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		c.timer.Stop()
		_ = c.flushLocked()
	}
	c.mu.Unlock()
	return c.Conn.Close()
}
