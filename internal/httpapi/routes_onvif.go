package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/onvif"
	"github.com/vigil-vms/vigil/internal/registry"
)

// ONVIF: discovery (administrators of the registry), attaching a camera's
// device (fills its stream endpoints), PTZ through the access decision
// (action ptz), every command audited.

func (s *Server) onvifErr(ctx context.Context, err error) error {
	lang := metaOf(ctx).lang
	var f *onvif.Fault
	switch {
	case errors.Is(err, onvif.ErrNotAttached):
		return ErrMsg(http.StatusNotFound, "not_found", "", evText(lang, "Camera chưa gắn thiết bị ONVIF", "The camera has no ONVIF device"))
	case errors.Is(err, onvif.ErrNoPTZ):
		return ErrMsg(http.StatusConflict, "no_ptz", "", evText(lang, "Camera không hỗ trợ PTZ", "The camera has no PTZ"))
	case errors.Is(err, onvif.ErrUnauthorized):
		return ErrMsg(http.StatusBadGateway, "device_unauthorized", "username",
			evText(lang, "Thiết bị ONVIF từ chối tài khoản", "The ONVIF device refused the credentials"))
	case errors.As(err, &f):
		return ErrMsg(http.StatusBadGateway, "device_fault", "", evText(lang, "Thiết bị ONVIF báo lỗi: ", "The ONVIF device answered a fault: ")+f.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return ErrMsg(http.StatusGatewayTimeout, "device_timeout", "", evText(lang, "Thiết bị ONVIF không trả lời", "The ONVIF device did not answer"))
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) {
		return ErrMsg(http.StatusBadGateway, "device_unreachable", "xaddr", evText(lang, "Không kết nối được thiết bị ONVIF", "Cannot reach the ONVIF device"))
	}
	var ve *registry.ValidationError
	var ves registry.ValidationErrors
	var ce *registry.ConflictError
	if errors.As(err, &ve) || errors.As(err, &ves) || errors.As(err, &ce) || errors.Is(err, registry.ErrNotFound) {
		return s.roomErr(ctx, err)
	}
	return ErrMsg(http.StatusBadGateway, "device_error", "", evText(lang, "Lỗi giao tiếp ONVIF: ", "ONVIF exchange failed: ")+err.Error())
}

type ptzBody struct {
	Pan       float64 `json:"pan,omitempty" minimum:"-1" maximum:"1"`
	Tilt      float64 `json:"tilt,omitempty" minimum:"-1" maximum:"1"`
	Zoom      float64 `json:"zoom,omitempty" minimum:"-1" maximum:"1"`
	TimeoutMS int     `json:"timeout_ms,omitempty" minimum:"0" maximum:"60000" doc:"the device stops after this; 0 = until stop"`
}

func (s *Server) routesONVIF() {
	if s.ONVIF == nil {
		return
	}
	const tag = "onvif"
	huma.Register(s.api, op(http.MethodPost, "/api/v1/onvif/discover", "onvif-discover", "Find ONVIF devices on the local network (WS-Discovery)", tag),
		func(ctx context.Context, in *struct {
			Body struct {
				Target    string `json:"target,omitempty" maxLength:"100" doc:"host:port to probe; default the multicast group"`
				TimeoutMS int    `json:"timeout_ms,omitempty" minimum:"0" maximum:"30000"`
			}
		}) (*struct {
			Body struct {
				Devices []onvif.Discovered `json:"devices"`
			}
		}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if err := s.site(ctx, c, access.ManageRegistry, "onvif/discover"); err != nil {
				return nil, err
			}
			target, timeout := s.Cfg.Events.DiscoveryTarget, s.Cfg.Events.DiscoveryTimeout
			if in.Body.Target != "" {
				target = in.Body.Target
			}
			if in.Body.TimeoutMS > 0 {
				timeout = time.Duration(in.Body.TimeoutMS) * time.Millisecond
			}
			found, err := onvif.Discover(ctx, target, timeout)
			if err != nil && !errors.Is(err, context.Canceled) {
				return nil, s.onvifErr(ctx, err)
			}
			e := c.auditActor()
			e.Action, e.Object, e.Outcome, e.Details = "onvif.discover", "onvif", audit.OK, map[string]any{"target": target, "found": len(found)}
			if _, err := s.Audit.Append(ctx, s.DB.Q(), e); err != nil {
				return nil, s.internal(ctx, "audit", err)
			}
			out := &struct {
				Body struct {
					Devices []onvif.Discovered `json:"devices"`
				}
			}{}
			out.Body.Devices = found
			if out.Body.Devices == nil {
				out.Body.Devices = []onvif.Discovered{}
			}
			return out, nil
		})

	huma.Register(s.api, op(http.MethodPut, "/api/v1/cameras/{id}/onvif", "onvif-attach",
		"Attach the camera's ONVIF device: clock, information, profiles; fills the main and sub stream endpoints", tag),
		func(ctx context.Context, in *struct {
			IDPath
			Body struct {
				XAddr       string `json:"xaddr" maxLength:"2048" doc:"device service URL, e.g. http://10.0.0.5/onvif/device_service"`
				Username    string `json:"username" maxLength:"128"`
				Password    string `json:"password" maxLength:"256"`
				Events      bool   `json:"events,omitempty" doc:"subscribe to the device's events (pull point)"`
				FillStreams *bool  `json:"fill_streams,omitempty" doc:"write the profiles' stream URIs as the camera's endpoints (default true)"`
			}
		}) (*struct{ Body onvif.Device }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.Manage, in.ID); err != nil {
				return nil, err
			}
			fill := in.Body.FillStreams == nil || *in.Body.FillStreams
			ctx2, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			d, err := s.ONVIF.Attach(ctx2, c.regActor(), in.ID, onvif.AttachInput{XAddr: in.Body.XAddr, Username: in.Body.Username,
				Password: in.Body.Password, Events: in.Body.Events, FillStreams: fill})
			if err != nil {
				return nil, s.onvifErr(ctx, err)
			}
			if fill && s.ReloadMedia != nil {
				s.ReloadMedia(context.WithoutCancel(ctx))
			}
			return &struct{ Body onvif.Device }{d}, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}/onvif", "onvif-get", "The camera's ONVIF device", tag),
		func(ctx context.Context, in *IDPath) (*struct{ Body onvif.Device }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.ViewLive, in.ID); err != nil {
				return nil, err
			}
			d, err := s.ONVIF.Get(ctx, in.ID)
			if err != nil {
				return nil, s.onvifErr(ctx, err)
			}
			return &struct{ Body onvif.Device }{d}, nil
		})

	ptz := func(ctx context.Context, id string, r onvif.PTZRequest) error {
		c, err := s.who(ctx, false)
		if err != nil {
			return err
		}
		if _, err := s.camera(ctx, c, access.PTZ, id); err != nil {
			return err
		}
		ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.ONVIF.PTZ(ctx2, c.regActor(), id, r); err != nil {
			return s.onvifErr(ctx, err)
		}
		return nil
	}
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/cameras/{id}/ptz/move", "ptz-move", "Continuous PTZ move (velocities −1..1)", tag), 204),
		func(ctx context.Context, in *struct {
			IDPath
			Body ptzBody
		}) (*struct{}, error) {
			return nil, ptz(ctx, in.ID, onvif.PTZRequest{Op: "move", Pan: in.Body.Pan, Tilt: in.Body.Tilt, Zoom: in.Body.Zoom,
				Timeout: time.Duration(in.Body.TimeoutMS) * time.Millisecond})
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/cameras/{id}/ptz/stop", "ptz-stop", "Stop PTZ movement", tag), 204),
		func(ctx context.Context, in *IDPath) (*struct{}, error) {
			return nil, ptz(ctx, in.ID, onvif.PTZRequest{Op: "stop"})
		})
	huma.Register(s.api, withStatus(op(http.MethodPost, "/api/v1/cameras/{id}/ptz/presets/{preset}", "ptz-goto-preset", "Go to a PTZ preset", tag), 204),
		func(ctx context.Context, in *struct {
			IDPath
			Preset string `path:"preset" maxLength:"64"`
		}) (*struct{}, error) {
			return nil, ptz(ctx, in.ID, onvif.PTZRequest{Op: "goto_preset", Preset: in.Preset})
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/cameras/{id}/ptz/presets", "ptz-presets", "PTZ presets", tag),
		func(ctx context.Context, in *IDPath) (*struct {
			Body struct {
				Presets []onvif.Preset `json:"presets"`
			}
		}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.PTZ, in.ID); err != nil {
				return nil, err
			}
			ps, err := s.ONVIF.Presets(ctx, in.ID)
			if err != nil {
				return nil, s.onvifErr(ctx, err)
			}
			out := &struct {
				Body struct {
					Presets []onvif.Preset `json:"presets"`
				}
			}{}
			out.Body.Presets = ps
			return out, nil
		})
}
