package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/ops"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/store"
)

// RecordFolders are the storage folders of a configuration.
func RecordFolders(dataDir string, folders []string) []record.Folder {
	if len(folders) == 0 {
		return []record.Folder{{Name: "disk1", Path: filepath.Join(dataDir, "recordings")}}
	}
	out := make([]record.Folder, 0, len(folders))
	for _, f := range folders {
		n, p, _ := strings.Cut(f, "=")
		out = append(out, record.Folder{Name: strings.TrimSpace(n), Path: strings.TrimSpace(p)})
	}
	return out
}

// openRecording builds the record and playback rooms.
func (a *App) openRecording() error {
	rc := a.Cfg.Recording
	rec, err := record.New(record.Options{
		Folders: RecordFolders(a.Cfg.DataDir, rc.Folders), Node: a.Cfg.Site.ID,
		SegmentLength: rc.SegmentLength, FragmentLength: rc.FragmentLength,
		DefaultMode: rc.DefaultMode, RetentionDays: rc.RetentionDays,
		HighWater: rc.HighWaterPercent, DiskFullPolicy: rc.DiskFullPolicy,
		ReserveBytes: rc.ReserveBytes, ReservePercent: offIfZero(rc.ReservePercent),
		SystemOf: func(ctx context.Context, id string) (string, error) {
			f, err := a.Registry.CameraFacts(ctx, id)
			return f.SystemID, err
		},
		OnAlert: func(code, msg string) { a.Log.Error("CRITICAL recording alert", "code", code, "message", msg) },
		// A full storage folder is an incident against the 24-hour deadline
		// (R-OPS-1), resolved when the folder recovers.
		OnStorage: func(folder string, full bool, msg string) {
			if a.Health == nil {
				return
			}
			ctx := context.Background()
			var err error
			if full {
				_, _, err = a.Health.OpenAuto(ctx, health.CatStorage, "volume/"+folder, health.AutoInfo{
					Title: "Ổ lưu trữ " + folder + " đầy / storage " + folder + " full", Description: msg})
			} else {
				_, err = a.Health.ResolveAuto(ctx, health.CatStorage, "volume/"+folder, msg)
			}
			if err != nil {
				a.Log.Error("storage incident", "folder", folder, "err", err)
			}
		},
		// Footage deleted before its retention to free the disk is an
		// incident for a person (R-OPS-1, R-OPS-2).
		OnEarlyDelete: func(d record.Deletion, days int) {
			if a.Health == nil {
				return
			}
			loc := a.Recorder.Options().Location
			msg := fmt.Sprintf("Đã xoá %d đoạn ghi hình (%s → %s) chưa hết hạn lưu %d ngày để giải phóng ổ đĩa / deleted %d segments (%s → %s) younger than the %d-day retention to free the disk",
				d.Segments, time.UnixMilli(d.FromMS).In(loc).Format("02/01/2006 15:04"), time.UnixMilli(d.ToMS).In(loc).Format("02/01/2006 15:04"), days,
				d.Segments, time.UnixMilli(d.FromMS).In(loc).Format("02/01/2006 15:04"), time.UnixMilli(d.ToMS).In(loc).Format("02/01/2006 15:04"), days)
			if _, _, err := a.Health.OpenAuto(context.Background(), health.CatStorage, "retention/"+d.CameraID, health.AutoInfo{
				Title: "Xoá hình trước hạn lưu / footage deleted before its retention: " + d.CameraID, Description: msg}); err != nil {
				a.Log.Error("early deletion incident", "camera", d.CameraID, "err", err)
			}
		},
	}, a.DB, a.Audit, recordHub{a.Hub, &a.vod.federated}, a.Log.With("room", "record"), a.Metrics)
	if err != nil {
		return err
	}
	pb, err := playback.New(playback.Options{
		Dir: filepath.Join(a.Cfg.DataDir, "exports"), MaxExport: rc.ExportMaxDuration,
		Site: playback.SiteRef{ID: a.Cfg.Site.ID, Name: a.Cfg.Site.Name}, Software: "vigil",
	}, a.DB, a.Audit, rec, a.SiteKey, a.KeyID)
	if err != nil {
		return err
	}
	a.Recorder, a.Playback = rec, pb
	return nil
}

// startRecording reconciles the index with the disk (a crash leaves open
// rows and maybe a partial fragment), then starts recording.
func (a *App) startRecording(ctx context.Context) error {
	rep, err := a.Recorder.Reconcile(ctx, true)
	if err != nil {
		return fmt.Errorf("record: reconcile: %w", err)
	}
	if rep.OK() {
		a.Log.Info("recordings reconciled", "report", rep.String())
	} else {
		a.Log.Warn("recordings repaired at start", "report", rep.String())
	}
	a.Recorder.Start(ctx)
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.watchRecording(ctx, a.Cfg.Ops.SampleInterval) }()
	return nil
}

// offIfZero maps a configured 0 ("none") to the recorder's "off" (-1); the
// recorder reads 0 as "the default".
func offIfZero(v int) int {
	if v == 0 {
		return -1
	}
	return v
}

func (a *App) stopRecording() {
	if a.Recorder != nil {
		a.Recorder.Stop()
	}
}

// recordHub is the hub as the recorder sees it: without a lower site's
// cameras at tier 1. They are recorded at their own site, and recording
// them here would keep them pushed upward all the time instead of on demand.
type recordHub struct {
	*media.Hub
	fed *atomic.Pointer[map[string]bool]
}

func (h recordHub) States() []media.State {
	all := h.Hub.States()
	fed := h.fed.Load()
	if fed == nil || len(*fed) == 0 {
		return all
	}
	out := all[:0:0]
	for _, st := range all {
		if !(*fed)[st.CameraID] {
			out = append(out, st)
		}
	}
	return out
}

// watchRecording turns a recorder that cannot write while its camera is
// online into a recording_stopped incident against the 24-hour deadline
// (R-OPS-1), resolved when recording resumes. An offline camera is the
// camera_offline incident's business, not this one's.
func (a *App) watchRecording(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	open := map[string]bool{}
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.Recorder.Changes(): // a write failed or succeeded again: at once
		}
		for _, st := range a.Recorder.Recording() {
			obj := "camera/" + st.CameraID
			switch {
			case !st.Recording && st.LastError != "" && a.cameraOnline(st.CameraID):
				if open[st.CameraID] {
					continue
				}
				if _, _, err := a.Health.OpenAuto(ctx, health.CatRecordingStopped, obj, health.AutoInfo{
					Title:       "Ngừng ghi hình / recording stopped: " + st.CameraID,
					Description: st.LastError,
				}); err != nil {
					a.Log.Error("recording incident", "camera", st.CameraID, "err", err)
					continue
				}
				open[st.CameraID] = true
			case st.Recording && (open[st.CameraID] || first):
				// After a restart the first pass also closes what an earlier
				// run left open.
				if _, err := a.Health.ResolveAuto(ctx, health.CatRecordingStopped, obj, "recording resumed"); err != nil {
					a.Log.Error("recording incident", "camera", st.CameraID, "err", err)
					continue
				}
				delete(open, st.CameraID)
			}
		}
		first = false
	}
}

func (a *App) cameraOnline(id string) bool {
	sts, ok := a.Hub.State(id)
	if !ok {
		return false
	}
	for _, s := range sts {
		if s.Status == media.StatusOnline {
			return true
		}
	}
	return false
}

// cameraRetention is every local camera's retention for the compliance
// report: its effective policy, the oldest footage the segment index holds
// and how much footage it holds since `since` (one grouped query over the
// index, never the file tree; the segment being written counts up to its
// last written fragment, as playback serves it).
func (a *App) cameraRetention(ctx context.Context, since time.Time) ([]ops.CameraRetention, error) {
	oldest, kept := map[string]int64{}, map[string]int64{}
	s := store.MS(since)
	rows, err := a.DB.Q().Query(ctx, `SELECT camera_id, MIN(start_ms),
		CAST(SUM(CASE WHEN end_ms > ? THEN end_ms - (CASE WHEN start_ms > ? THEN start_ms ELSE ? END) ELSE 0 END) AS BIGINT)
		FROM record_segments WHERE state IN ('ok', 'open') GROUP BY camera_id`, s, s, s)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var ms, k int64
		if err := rows.Scan(&id, &ms, &k); err != nil {
			rows.Close()
			return nil, err
		}
		oldest[id], kept[id] = ms, k
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ids, err := a.DB.Q().Query(ctx, `SELECT id FROM cameras WHERE origin_site = '' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var cams []string
	for ids.Next() {
		var id string
		if err := ids.Scan(&id); err != nil {
			ids.Close()
			return nil, err
		}
		cams = append(cams, id)
	}
	ids.Close()
	out := make([]ops.CameraRetention, 0, len(cams))
	for _, id := range cams {
		eff, err := a.Recorder.Effective(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, ops.CameraRetention{CameraID: id, Mode: eff.Mode, RetentionDays: eff.RetentionDays,
			OldestFootage: store.Time(oldest[id]), Kept: time.Duration(kept[id]) * time.Millisecond})
	}
	return out, nil
}
