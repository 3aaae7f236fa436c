package playback

import (
	"context"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/store"
)

// Timeline is one camera's recorded spans and gaps over a range.
type RecordingTimeline struct {
	CameraID  string         `json:"camera_id"`
	Spans     []RecordedSpan `json:"spans" doc:"recorded stretches, adjacent segments merged"`
	Gaps      []RecordedSpan `json:"gaps" doc:"unrecorded stretches inside the range"`
	Bytes     int64          `json:"bytes"`
	Segments  int            `json:"segments"`
	Recording bool           `json:"recording" doc:"the last span is still being written"`
}

// MaxTimelineRange bounds one timeline query.
const MaxTimelineRange = 92 * 24 * time.Hour

// TimelineOf answers from the index only.
func TimelineOf(ctx context.Context, q store.Q, cameraID string, from, to time.Time) (RecordingTimeline, error) {
	tls, err := TimelinesOf(ctx, q, []string{cameraID}, from, to)
	if err != nil {
		return RecordingTimeline{}, err
	}
	return tls[0], nil
}

// TimelinesOf answers for many cameras with one index query.
func TimelinesOf(ctx context.Context, q store.Q, ids []string, from, to time.Time) ([]RecordingTimeline, error) {
	fromMS, toMS := from.UnixMilli(), to.UnixMilli()
	out := make([]RecordingTimeline, len(ids))
	pos := map[string]int{}
	args := []any{}
	for i, id := range ids {
		out[i] = RecordingTimeline{CameraID: id, Spans: []RecordedSpan{}, Gaps: []RecordedSpan{}}
		pos[id] = i
		args = append(args, id)
	}
	if len(ids) == 0 {
		return out, nil
	}
	args = append(args, fromMS-record.MaxSegmentMS, toMS, fromMS, string(media.Main))
	rows, err := q.Query(ctx, `SELECT camera_id, start_ms, end_ms, bytes, state FROM record_segments
		WHERE camera_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) AND start_ms >= ? AND start_ms < ? AND end_ms > ? AND variant = ? AND state IN ('ok', 'open')
		ORDER BY camera_id, start_ms`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tol := gapTolerance.Milliseconds()
	spans := make([][][2]int64, len(ids))
	for rows.Next() {
		var cam, state string
		var s, e, n int64
		if err := rows.Scan(&cam, &s, &e, &n, &state); err != nil {
			return nil, err
		}
		i, ok := pos[cam]
		if !ok {
			continue
		}
		tl := &out[i]
		tl.Bytes += n
		tl.Segments++
		if state == record.StateOpen {
			tl.Recording = true
		}
		s, e = max(s, fromMS), min(e, toMS)
		if e <= s {
			continue
		}
		sp := spans[i]
		if k := len(sp) - 1; k >= 0 && s-sp[k][1] <= tol {
			sp[k][1] = max(sp[k][1], e)
			continue
		}
		spans[i] = append(sp, [2]int64{s, e})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		tl := &out[i]
		at := fromMS
		for _, sp := range spans[i] {
			if sp[0]-at > tol {
				tl.Gaps = append(tl.Gaps, RecordedSpan{From: time.UnixMilli(at).UTC(), To: time.UnixMilli(sp[0]).UTC()})
			}
			tl.Spans = append(tl.Spans, RecordedSpan{From: time.UnixMilli(sp[0]).UTC(), To: time.UnixMilli(sp[1]).UTC()})
			at = sp[1]
		}
		if toMS-at > tol {
			tl.Gaps = append(tl.Gaps, RecordedSpan{From: time.UnixMilli(at).UTC(), To: time.UnixMilli(toMS).UTC()})
		}
	}
	return out, nil
}
