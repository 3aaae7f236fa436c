package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/i18n"
	"github.com/vigil-vms/vigil/internal/media"
)

type loginIn struct {
	Body struct {
		Username string `json:"username" minLength:"1" maxLength:"64"`
		Password string `json:"password" minLength:"1" maxLength:"256"`
		TOTPCode string `json:"totp_code,omitempty" maxLength:"10"`
	}
}

type loginBody struct {
	State           string          `json:"state" doc:"ok, must_change_password, must_enroll_totp or totp_required"`
	User            *auth.Principal `json:"user,omitempty"`
	CSRFToken       string          `json:"csrf_token,omitempty" doc:"send as X-CSRF-Token on unsafe requests of this session"`
	PasswordExpired bool            `json:"password_expired,omitempty"`
}

type loginOut struct {
	SetCookie []http.Cookie `header:"Set-Cookie"`
	Body      loginBody
}

type meOut struct {
	Body struct {
		User          *auth.Principal `json:"user"`
		CSRFToken     string          `json:"csrf_token,omitempty"`
		OrgKind       string          `json:"org_kind"`
		HighestAccess bool            `json:"highest_access"`
		Permissions   []string        `json:"site_permissions"`
	}
}

type emptyOut struct{}

func (s *Server) sessionCookie(value string, maxAge int, secure bool) http.Cookie {
	return http.Cookie{Name: SessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge}
}

func (s *Server) routesAuth() {
	huma.Register(s.api, op(http.MethodPost, "/api/v1/auth/login", "login", "Sign in (session cookie)", "auth"),
		func(ctx context.Context, in *loginIn) (*loginOut, error) {
			m := metaOf(ctx)
			if !s.loginLimiter.allow(m.remote) {
				return nil, Err(m.lang, http.StatusTooManyRequests, "rate_limited", "")
			}
			res, err := s.Auth.Login(ctx, in.Body.Username, in.Body.Password, in.Body.TOTPCode, m.remote)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			out := &loginOut{Body: loginBody{State: string(res.State), User: res.Principal, PasswordExpired: res.PasswordExpired}}
			if res.State == auth.LoginTOTPRequired {
				out.Body.User = nil
				return out, nil
			}
			if res.Principal != nil {
				out.Body.CSRFToken = res.Principal.CSRF
			}
			out.SetCookie = []http.Cookie{s.sessionCookie(res.SessionID, int(s.Cfg.Auth.SessionMax.Seconds()), m.tls)}
			return out, nil
		})

	huma.Register(s.api, op(http.MethodPost, "/api/v1/auth/logout", "logout", "Sign out", "auth"),
		func(ctx context.Context, _ *struct{}) (*struct {
			SetCookie http.Cookie `header:"Set-Cookie"`
		}, error) {
			m := metaOf(ctx)
			if m.secret != "" {
				if err := s.Auth.Logout(ctx, m.secret, m.remote); err != nil {
					return nil, s.roomErr(ctx, err)
				}
			}
			return &struct {
				SetCookie http.Cookie `header:"Set-Cookie"`
			}{SetCookie: s.sessionCookie("", -1, m.tls)}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/api/v1/auth/me", "me", "Who am I, and what may I do on this site", "auth"),
		func(ctx context.Context, _ *struct{}) (*meOut, error) {
			c, err := s.who(ctx, true)
			if err != nil {
				return nil, err
			}
			out := &meOut{}
			out.Body.User = c.p
			out.Body.CSRFToken = c.p.CSRF
			out.Body.OrgKind = c.subj.OrgKind
			out.Body.HighestAccess = c.subj.Highest
			out.Body.Permissions = []string{}
			for _, a := range access.SiteActions {
				if access.DecideSite(&c.subj, a).Allow {
					out.Body.Permissions = append(out.Body.Permissions, a.String())
				}
			}
			return out, nil
		})

	type passwordIn struct {
		Body struct {
			OldPassword string `json:"old_password" minLength:"1" maxLength:"256"`
			NewPassword string `json:"new_password" minLength:"1" maxLength:"256"`
		}
	}
	huma.Register(s.api, op(http.MethodPost, "/api/v1/auth/password", "change-password", "Change my password", "auth"),
		func(ctx context.Context, in *passwordIn) (*struct{}, error) {
			c, err := s.who(ctx, true)
			if err != nil {
				return nil, err
			}
			if err := s.Auth.ChangePassword(ctx, c.p, in.Body.OldPassword, in.Body.NewPassword, c.remote); err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return nil, nil
		})

	huma.Register(s.api, op(http.MethodPost, "/api/v1/auth/totp/enroll", "totp-enroll", "Start TOTP enrolment (secret shown once)", "auth"),
		func(ctx context.Context, _ *struct{}) (*struct{ Body *auth.TOTPEnrollment }, error) {
			c, err := s.who(ctx, true)
			if err != nil {
				return nil, err
			}
			e, err := s.Auth.EnrollTOTP(ctx, c.p, c.remote)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body *auth.TOTPEnrollment }{Body: e}, nil
		})

	type totpIn struct {
		Body struct {
			Code string `json:"code" minLength:"6" maxLength:"8"`
		}
	}
	huma.Register(s.api, op(http.MethodPost, "/api/v1/auth/totp/confirm", "totp-confirm", "Confirm TOTP enrolment with a code", "auth"),
		func(ctx context.Context, in *totpIn) (*struct{}, error) {
			c, err := s.who(ctx, true)
			if err != nil {
				return nil, err
			}
			if err := s.Auth.ConfirmTOTP(ctx, c.p, in.Body.Code, c.remote); err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return nil, nil
		})

	type tokenIn struct {
		Body struct {
			Name     string `json:"name" minLength:"1" maxLength:"100"`
			TTLHours int    `json:"ttl_hours,omitempty" minimum:"0" maximum:"8760" doc:"0 = the site's maximum"`
		}
	}
	type tokenOut struct {
		Body struct {
			Token string         `json:"token" doc:"shown once; send as Authorization: Bearer"`
			Info  *auth.APIToken `json:"info"`
		}
	}
	huma.Register(s.api, op(http.MethodPost, "/api/v1/auth/tokens", "create-token", "Create an API token for integrations", "auth"),
		func(ctx context.Context, in *tokenIn) (*tokenOut, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			plain, info, err := s.Auth.CreateToken(ctx, c.authActor(), c.p.UserID, in.Body.Name, time.Duration(in.Body.TTLHours)*time.Hour)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			out := &tokenOut{}
			out.Body.Token, out.Body.Info = plain, info
			return out, nil
		})
	huma.Register(s.api, op(http.MethodGet, "/api/v1/auth/tokens", "list-tokens", "My API tokens", "auth"),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []auth.APIToken }, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			ts, err := s.Auth.ListTokens(ctx, c.p.UserID)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return &struct{ Body []auth.APIToken }{Body: ts}, nil
		})
	huma.Register(s.api, op(http.MethodDelete, "/api/v1/auth/tokens/{id}", "revoke-token", "Revoke one of my API tokens", "auth"),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64"`
		}) (*struct{}, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			ts, err := s.Auth.ListTokens(ctx, c.p.UserID)
			if err != nil {
				return nil, s.roomErr(ctx, err)
			}
			mine := false
			for _, t := range ts {
				mine = mine || t.ID == in.ID
			}
			if !mine {
				return nil, Err(c.lang, http.StatusNotFound, "not_found", "id")
			}
			if err := s.Auth.RevokeToken(ctx, c.authActor(), in.ID); err != nil {
				return nil, s.roomErr(ctx, err)
			}
			return nil, nil
		})

	type streamTokenIn struct {
		ID   string `path:"id" maxLength:"64"`
		Body struct {
			Variant string `json:"variant,omitempty" enum:"main,sub" doc:"default main"`
		}
	}
	type streamTokenOut struct {
		Body struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
			RTSPURL   string    `json:"rtsp_url"`
			WHEPURL   string    `json:"whep_url"`
			HLSURL    string    `json:"hls_url"`
			PlayerURL string    `json:"player_url"`
		}
	}
	huma.Register(s.api, op(http.MethodPost, "/api/v1/cameras/{id}/stream-token", "stream-token",
		"A short-lived token to watch one camera live (RTSP, WebRTC, LL-HLS)", "live"),
		func(ctx context.Context, in *streamTokenIn) (*streamTokenOut, error) {
			c, err := s.who(ctx, false)
			if err != nil {
				return nil, err
			}
			if _, err := s.camera(ctx, c, access.ViewLive, in.ID); err != nil {
				return nil, err
			}
			variant := media.Main
			if in.Body.Variant == "sub" {
				variant = media.Sub
			}
			tok, exp, err := s.Auth.IssueStreamToken(c.p.UserID, in.ID, s.Cfg.Auth.StreamTokenTTL)
			if err != nil {
				return nil, s.internal(ctx, "stream token", err)
			}
			out := &streamTokenOut{}
			out.Body.Token, out.Body.ExpiresAt = tok, exp
			rtspHost := s.Cfg.RTSP.Listen
			if s.Hub != nil {
				rtspHost = s.Hub.RTSPAddr()
			}
			out.Body.RTSPURL = "rtsp://" + rtspHost + "/" + in.ID + "/" + string(variant) + "?token=" + tok
			out.Body.WHEPURL = "/whep/" + in.ID + "/" + string(variant)
			out.Body.HLSURL = "/hls/" + in.ID + "/" + string(variant) + "/index.m3u8?token=" + tok
			out.Body.PlayerURL = "/player/?camera=" + in.ID + "&variant=" + string(variant) + "&token=" + tok
			return out, nil
		})
	_ = i18n.VI
}
