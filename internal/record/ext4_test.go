package record_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// A real full disk inside a segment: ext4 on a loop device, filled by a
// filler file (leaving 8 KB, so the first failing fragment is written in
// part) over several fragments, then freed. Every fragment written before
// and after is whole (ffprobe, the playback MP4), the gap is where nothing
// was written, the segment after starts at its own first frame, and
// record check is clean.
func TestDiskFullExt4(t *testing.T) {
	recordtest.NeedFFprobe(t)
	mnt := recordtest.MountExt4(t, 96)
	db := storetest.SQLite(t)
	opt := fastOpts()
	opt.SegmentLength = 30 * time.Second // the outage is inside the segment
	opt.FragmentLength = time.Second
	opt.ReserveBytes, opt.ReservePercent = -1, -1 // the real ENOSPC, not the reserve
	opt.Folders = []record.Folder{{Name: "disk1", Path: filepath.Join(mnt, "rec")}}
	cam := "cam-full"
	rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: cam}}, opt)
	rig.Rec.Start(context.Background())
	o := fillOutage(t, rig, cam, mnt, 8<<10, nil, 5)
	rig.Close()
	checkOutage(t, rig, cam, o)
}

// With the database on the same volume as the recordings, the recorder
// keeps the reserve free: filled to just above it, the recorder stops
// writing (and says so) while the volume still has the reserve free and the
// database still writes; freed, it records again.
func TestReserveKeepsDatabaseWritable(t *testing.T) {
	recordtest.NeedFFprobe(t)
	mnt := recordtest.MountExt4(t, 96)
	db, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(mnt, "vigil.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const reserve = 16 << 20
	opt := fastOpts()
	opt.SegmentLength = 30 * time.Second
	opt.FragmentLength = time.Second
	opt.ReserveBytes, opt.ReservePercent = reserve, -1
	opt.Folders = []record.Folder{{Name: "disk1", Path: filepath.Join(mnt, "rec")}}
	cam := "cam-res"
	rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: cam}}, opt)
	rig.Rec.Start(context.Background())
	o := fillOutage(t, rig, cam, mnt, reserve+(16<<10), func() {
		// Stopped before the volume was full: the reserve is still free,
		// and the database writes.
		if free := recordtest.FreeBytes(t, mnt); free < reserve-(256<<10) {
			t.Fatalf("the recorder ate into the reserve: %d bytes free of %d kept", free, reserve)
		}
		if _, err := rig.Audit.Append(context.Background(), db.Q(), auditEntry("test.during_disk_full")); err != nil {
			t.Fatalf("the database cannot write with the recordings at their reserve: %v", err)
		}
	}, 3)
	rig.Close()
	checkOutage(t, rig, cam, o)
}

// fillOutage is a diskOutage by a filler file that leaves leave bytes free
// on mnt; during runs while it is full, before it is freed.
func fillOutage(t *testing.T, rig *recordtest.Rig, cam, mnt string, leave int64, during func(), n int64) outage {
	t.Helper()
	var filler string
	return diskOutage(t, rig, cam, func() { filler = recordtest.FillDisk(t, mnt, leave) }, func() {
		if during != nil {
			during()
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}, n)
}

// An outage that starts at a segment roll: the next segment cannot be
// opened (every folder above its high-water mark, policy stop) while the
// open one finishes. The camera is not recording at once, and the segment
// opened when space returns starts at its own first frame, not at the end
// of the last one.
func TestOutageAtRoll(t *testing.T) {
	recordtest.NeedFFprobe(t)
	db := storetest.SQLite(t)
	var full atomic.Bool
	opt := fastOpts()
	opt.SegmentLength = 2 * time.Second
	opt.FragmentLength = 500 * time.Millisecond
	opt.ReserveBytes, opt.ReservePercent = -1, -1
	opt.DiskUsage = func(p string) (uint64, uint64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err != nil {
			return 0, 0, err
		}
		total := st.Blocks * uint64(st.Bsize)
		if full.Load() {
			return total / 100 * 95, total, nil
		}
		return total - st.Bavail*uint64(st.Bsize), total, nil
	}
	cam := "cam-roll"
	rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: cam}}, opt)
	rig.Rec.Start(context.Background())
	o := diskOutage(t, rig, cam, func() { full.Store(true) }, func() { full.Store(false) }, 2)
	o.lateEnd = opt.SegmentLength + time.Second // the open segment writes on to its roll
	rig.Close()
	checkOutage(t, rig, cam, o)
}

func auditEntry(action string) audit.Entry {
	return audit.Entry{ActorID: "system", Actor: "test", Action: action, Object: "test/x", Outcome: audit.OK}
}
