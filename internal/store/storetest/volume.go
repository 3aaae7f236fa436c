package storetest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// SmallVolume makes a real ext4 filesystem of sizeMiB on a loop device
// (truncate, mkfs.ext4 -m 0, mount -o loop) and returns its mount point; it
// is unmounted and removed when the test ends, after the test's later
// cleanups (close what you open on it with t.Cleanup after this call). It
// needs root and the tools: without them the test is skipped loudly, or
// fails when VIGIL_REQUIRE_TOOLS=1 (CI runs as root and sets it).
func SmallVolume(t testing.TB, sizeMiB int) string {
	t.Helper()
	need := func(why string) {
		t.Helper()
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatalf("a loop-mounted ext4 volume is required (VIGIL_REQUIRE_TOOLS=1) but %s", why)
		}
		t.Skipf("!!! SKIPPED: this test needs a loop-mounted ext4 volume, but %s (run as root with e2fsprogs; CI requires it) !!!", why)
	}
	if os.Geteuid() != 0 {
		need("the test is not running as root")
	}
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(tool + " is not on PATH")
		}
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "volume.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o750); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) error {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return errors.New(name + ": " + err.Error() + ": " + string(out))
		}
		return nil
	}
	if err := run("truncate", "-s", strconv.Itoa(sizeMiB)+"M", img); err != nil {
		t.Fatal(err)
	}
	// -m 0: no blocks reserved for root, so "full" means full for the
	// test, which runs as root.
	if err := run("mkfs.ext4", "-q", "-m", "0", img); err != nil {
		t.Fatal(err)
	}
	if err := run("mount", "-o", "loop", img, mnt); err != nil {
		need("mount -o loop failed (" + err.Error() + ")")
	}
	t.Cleanup(func() {
		if err := run("umount", mnt); err != nil {
			// Something still holds a file: detach lazily so the loop
			// device goes once it is closed, and say so.
			t.Logf("umount %s: %v; detaching lazily", mnt, err)
			_ = run("umount", "-l", mnt)
		}
	})
	return mnt
}

// FillVolume writes a filler file at path until the volume is full (the
// write fails with ENOSPC) and syncs it, as recordings filling the disk
// would. It returns the bytes written; removing the file frees them.
func FillVolume(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7 + 1) // not zeros: nothing may store it sparsely
	}
	var n int64
	for chunk := len(buf); chunk >= 512; {
		w, err := f.Write(buf[:chunk])
		n += int64(w)
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("fill %s: %v", path, err)
		}
		chunk /= 2 // the last free blocks, in smaller pieces
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("sync filler: %v", err)
	}
	return n
}
