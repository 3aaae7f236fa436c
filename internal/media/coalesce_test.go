package media

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// The coalescing connection must deliver every byte, in order, whether the
// writes are flushed by the timer, by size or by Close, with concurrent
// writers (gortsplib's writer goroutine and its request handler).
func TestCoalescingConnKeepsOrderAndBytes(t *testing.T) {
	a, b := net.Pipe()
	cc := newCoalescingConn(a, 500*time.Microsecond, 4096)
	var want bytes.Buffer
	var mu sync.Mutex
	var wg sync.WaitGroup
	got := make(chan []byte, 1)
	go func() { data, _ := io.ReadAll(b); got <- data }()
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				chunk := bytes.Repeat([]byte{byte('a' + w)}, 1+i%1500)
				mu.Lock() // a chunk is one RTP frame: whole, never interleaved
				want.Write(chunk)
				if _, err := cc.Write(chunk); err != nil {
					mu.Unlock()
					t.Error(err)
					return
				}
				mu.Unlock()
				if i%97 == 0 {
					time.Sleep(time.Millisecond) // let the timer flush
				}
			}
		}(w)
	}
	wg.Wait()
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	data := <-got
	if !bytes.Equal(data, want.Bytes()) {
		t.Fatalf("got %d bytes, want %d, or out of order", len(data), want.Len())
	}
}

func TestCoalescingConnReportsWriteError(t *testing.T) {
	a, b := net.Pipe()
	b.Close()
	cc := newCoalescingConn(a, time.Millisecond, 8)
	_, _ = cc.Write([]byte("0123456789")) // over max: flushed now, fails
	if _, err := cc.Write([]byte("x")); err == nil {
		t.Fatal("a failed flush must fail the next write")
	}
}
