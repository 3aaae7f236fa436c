package feed

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// A change of the site reaches every subscriber once; the last one out
// stops the poller; a subscriber that does not read is dropped (its channel
// closed) rather than holding the others back.
func TestFeedFansOutChanges(t *testing.T) {
	var mu sync.Mutex
	site := Snapshot{Versions: map[string]int64{"a": 1}, Status: map[string]string{"a": "online"}}
	read := func(context.Context) (Snapshot, error) {
		mu.Lock()
		defer mu.Unlock()
		return Snapshot{Versions: clone(site.Versions), Status: clone(site.Status)}, nil
	}
	f := New(read, 10*time.Millisecond)
	s1, snap, err := f.Subscribe(context.Background())
	if err != nil || snap.Status["a"] != "online" {
		t.Fatalf("first snapshot %v %v", snap, err)
	}
	s2, _, _ := f.Subscribe(context.Background())
	lazy, _, _ := f.Subscribe(context.Background()) // never reads

	mu.Lock()
	site.Versions["b"] = 1
	site.Status["a"] = "offline"
	mu.Unlock()
	for _, s := range []*Sub{s1, s2} {
		ch := <-s.C
		if !slices.Equal(ch.Cameras, []string{"b"}) || ch.Status["a"] != "offline" || len(ch.Status) != 1 {
			t.Fatalf("change %+v", ch)
		}
	}
	// Keep changing until the lazy subscriber's buffer overflows.
	for i := int64(2); ; i++ {
		mu.Lock()
		site.Versions["b"] = i
		mu.Unlock()
		select {
		case <-s1.C:
		case <-time.After(10 * time.Second):
			t.Fatal("no change for s1")
		}
		<-s2.C
		if f.Subscribers() == 2 {
			break
		}
	}
	n := 0
	for range lazy.C { // closed once dropped
		n++
	}
	if n != cap(lazy.C) {
		t.Fatalf("lazy got %d buffered changes", n)
	}
	f.Unsubscribe(s1)
	f.Unsubscribe(s2)
	f.Unsubscribe(lazy) // already gone: no effect
	if f.Subscribers() != 0 || f.cancel != nil {
		t.Fatal("poller still running with no subscriber")
	}
	// Unsubscribe waited for the poller to return: it reads no more.
}

func TestDiffAndFingerprint(t *testing.T) {
	a := Snapshot{Versions: map[string]int64{"a": 1, "b": 2}, Status: map[string]string{"a": "online", "b": "idle"}}
	b := Snapshot{Versions: map[string]int64{"a": 2, "c": 1}, Status: map[string]string{"a": "online", "c": "offline"}}
	ch := Diff(a, b)
	slices.Sort(ch.Cameras)
	if !slices.Equal(ch.Cameras, []string{"a", "b", "c"}) || len(ch.Status) != 2 || ch.Status["b"] != "" || ch.Status["c"] != "offline" {
		t.Fatalf("diff %+v", ch)
	}
	if Fingerprint(a.Versions) == Fingerprint(b.Versions) || Fingerprint(a.Versions) != Fingerprint(map[string]int64{"b": 2, "a": 1}) {
		t.Fatal("fingerprint")
	}
	// An id that ends where another's version begins must not collide.
	if Fingerprint(map[string]int64{"a1": 2}) == Fingerprint(map[string]int64{"a": 12}) {
		t.Fatal("fingerprint collides")
	}
}

func clone[M ~map[K]V, K comparable, V any](m M) M {
	out := M{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
