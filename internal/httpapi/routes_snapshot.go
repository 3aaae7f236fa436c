package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/public"
)

// snapshotters make the console's pictures: one per variant, made lazily
// (a site whose console never asks starts no ffmpeg).
type snapshotters struct {
	once      sync.Once
	main, sub *public.Snapshotter
}

func (s *Server) snapshotter(v media.Variant) *public.Snapshotter {
	s.snaps.once.Do(func() {
		s.snaps.main = public.NewSnapshotter(s.Hub, media.Main, 2*time.Second)
		s.snaps.sub = public.NewSnapshotter(s.Hub, media.Sub, 5*time.Second)
	})
	if v == media.Sub {
		return s.snaps.sub
	}
	return s.snaps.main
}

func (s *Server) routesSnapshot() {
	if s.Hub == nil {
		return
	}
	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}/snapshot.jpg", "camera-snapshot",
		"A JPEG of the camera's latest keyframe: the sub stream for thumbnails, the main stream for a download "+
			"(download=true: an attachment, written to the audit log first)", "live"),
		func(ctx context.Context, in *struct {
			IDPath
			Variant  string `query:"variant" enum:"main,sub," doc:"default main"`
			Download bool   `query:"download"`
		}) (*huma.StreamResponse, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.ViewLive, in.ID); err != nil {
				return nil, err
			}
			v := media.Main
			if in.Variant == "sub" {
				v = media.Sub
			}
			jpeg, at, err := s.snapshotter(v).Get(ctx, in.ID)
			lang := metaOf(ctx).lang
			switch {
			case errors.Is(err, public.ErrNoFFmpeg):
				return nil, ErrMsg(http.StatusServiceUnavailable, "snapshot_unavailable", "", bi(lang,
					"Máy chủ chưa cài ffmpeg nên không tạo được ảnh chụp", "Snapshots need ffmpeg on the server"))
			case err != nil:
				return nil, ErrMsg(http.StatusServiceUnavailable, "camera_unavailable", "", bi(lang,
					"Camera tạm thời không có hình", "The camera has no picture right now"))
			}
			name := in.ID + "_" + at.In(s.zone()).Format("20060102-150405") + ".jpg"
			if in.Download {
				// The picture leaves the system as a file: audited, and not
				// given when the audit entry cannot be written.
				e := c.auditActor()
				e.Action, e.Object, e.Outcome = "camera.snapshot", "camera/"+in.ID, audit.OK
				e.Details = map[string]any{"variant": string(v), "taken_at": at.UTC().Format(time.RFC3339Nano), "bytes": len(jpeg), "file": name}
				if _, err := s.Audit.Append(ctx, s.DB.Q(), e); err != nil {
					return nil, s.internal(ctx, "audit", err)
				}
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				hctx.SetHeader("Content-Type", "image/jpeg")
				hctx.SetHeader("Content-Length", strconv.Itoa(len(jpeg)))
				hctx.SetHeader("X-Taken-At", at.UTC().Format(time.RFC3339Nano))
				if in.Download {
					hctx.SetHeader("Content-Disposition", `attachment; filename="`+name+`"`)
				}
				_, _ = hctx.BodyWriter().Write(jpeg)
			}}, nil
		})
}

// zone is the site's display time zone (file names of downloads).
func (s *Server) zone() *time.Location {
	if l, err := time.LoadLocation(s.Cfg.Site.Timezone); err == nil && s.Cfg.Site.Timezone != "" {
		return l
	}
	return time.UTC
}
