// Command vigil runs a site of any tier of a provincial camera system, and
// the tools around it (demo, simulated cameras, accounts, audit verification).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // Asia/Ho_Chi_Minh must resolve on minimal hosts too

	"github.com/spf13/cobra"

	"github.com/vigil-vms/vigil/internal/app"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/demo"
	"github.com/vigil-vms/vigil/internal/httpapi"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
)

// version is set with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	httpapi.Version = version
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Vigil: nền tảng camera giám sát cấp tỉnh / provincial surveillance-camera platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var cfgPath string
	root.PersistentFlags().StringVarP(&cfgPath, "config", "c", os.Getenv("VIGIL_CONFIG"), "site configuration file (YAML); VIGIL_… variables override it")
	loadCfg := func() (config.Config, error) { return config.Load(cfgPath, os.Environ()) }

	root.AddCommand(
		serveCmd(loadCfg),
		demoCmd(),
		simCmd(),
		userCmd(loadCfg),
		auditCmd(loadCfg),
		enrollCmd(loadCfg),
		migrateCmd(loadCfg),
		recordCmd(loadCfg),
		evidenceCmd(),
		probeCmd(),
		discoverCmd(),
		&cobra.Command{Use: "version", Short: "Print the version", Run: func(*cobra.Command, []string) { fmt.Println("vigil", version) }},
	)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vigil:", err)
		var ce config.Errors
		if errors.As(err, &ce) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func logger(c config.Config) *slog.Logger {
	lvl := slog.LevelInfo
	_ = lvl.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func serveCmd(load func() (config.Config, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the site (API, console, live video)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := load()
			if err != nil {
				return err
			}
			log := logger(c)
			ctx, stop := signalContext()
			defer stop()
			a, err := app.Open(ctx, c, log, app.Options{})
			if err != nil {
				return err
			}
			defer a.Close()
			if err := firstAdmin(ctx, a); err != nil {
				return err
			}
			if err := a.Serve(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			log.Info("stopping")
			return nil
		},
	}
}

// firstAdmin creates the first administrator of an empty site with a
// one-time password printed once (it must be changed at first login), and
// the highest-access organisation if it does not exist yet.
func firstAdmin(ctx context.Context, a *app.App) error {
	us, err := a.Auth.List(ctx, auth.ListFilter{IncludeDisabled: true})
	if err != nil || len(us) > 0 {
		return err
	}
	if err := ensureHighestOrg(ctx, a); err != nil {
		return err
	}
	pw := oneTimePassword()
	_, err = a.Auth.CreateUser(ctx, auth.System, auth.NewUser{Username: "admin", DisplayName: "Quản trị viên",
		OrgID: a.Cfg.Access.HighestOrg, Roles: []string{"admin", "auditor"}, InitialPassword: pw})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nTài khoản quản trị đầu tiên / first administrator:\n  user: admin\n  one-time password: %s\n  (phải đổi khi đăng nhập lần đầu / must be changed at first login)\n\n", pw)
	return nil
}

func simCmd() *cobra.Command {
	var addr string
	var n int
	var h265 bool
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run simulated RTSP cameras (looped H.264/H.265 clips with a moving clock)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			specs := make([]sim.CameraSpec, n)
			for i := range specs {
				specs[i] = sim.CameraSpec{ID: fmt.Sprintf("cam%02d", i+1), Codec: "h264"}
				if h265 && i%2 == 1 {
					specs[i].Codec = "h265"
				}
			}
			s, err := sim.Start(ctx, sim.Config{Addr: addr, Cameras: specs, Logger: slog.Default()})
			if err != nil {
				return err
			}
			defer s.Close()
			for _, sp := range specs {
				fmt.Printf("%s  %s  %s\n", sp.ID, s.URL(sp.ID, "main"), s.URL(sp.ID, "sub"))
			}
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8555", "RTSP listen address")
	cmd.Flags().IntVarP(&n, "cameras", "n", 4, "number of cameras")
	cmd.Flags().BoolVar(&h265, "h265", true, "every second camera streams H.265")
	return cmd
}

func demoCmd() *cobra.Command {
	var opt demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the demo: a tier-1 site with simulated cameras, on SQLite, no setup",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			a, s, info, err := demo.Run(ctx, opt, log)
			if err != nil {
				return err
			}
			defer s.Close()
			defer a.Close()
			if info.Tier2 != nil {
				defer info.Tier2.Close()
			}
			fmt.Printf("\nVigil demo — Trung tâm IOC tỉnh Điện Biên\n")
			fmt.Printf("  Bảng điều khiển / console: %s\n", info.ConsoleURL)
			fmt.Printf("  API:                       %s (OpenAPI: %s/openapi.json)\n", info.APIURL, info.APIURL)
			fmt.Printf("  RTSP:                      %s/<camera>/main\n", info.RTSPURL)
			fmt.Printf("  Công khai / public page:   %s\n", info.PublicURL)
			fmt.Printf("  Quản trị / admin:          %s / %s\n", info.AdminUser, info.AdminPassword)
			for u, p := range info.Users {
				fmt.Printf("  Người dùng / user:         %s / %s\n", u, p)
			}
			if info.Tier2URL != "" {
				fmt.Printf("  Cấp II / tier-2 site:      %s (camera liên thông: GET /api/v1/federation/cameras)\n", info.Tier2URL)
			}
			fmt.Printf("  Thông tin / details:       %s\n\n", filepath.Join(opt.DataDir, "demo.json"))
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&opt.DataDir, "data", filepath.Join(os.TempDir(), "vigil-demo"), "data folder")
	cmd.Flags().StringVar(&opt.HTTPAddr, "http", "127.0.0.1:8080", "console and API address (loopback)")
	cmd.Flags().StringVar(&opt.RTSPAddr, "rtsp", "127.0.0.1:8554", "RTSP re-stream address")
	cmd.Flags().StringVar(&opt.SimAddr, "sim", "127.0.0.1:8555", "simulated cameras' address")
	cmd.Flags().StringVar(&opt.PublicAddr, "public", "127.0.0.1:8081", "public (citizen-app) endpoint address")
	cmd.Flags().BoolVar(&opt.Tier2, "tier2", true, "also run a tier-2 site linked to tier 1 (federation)")
	cmd.Flags().StringVar(&opt.LeafAddr, "leaf", "127.0.0.1:7422", "tier 1's leaf-node address for lower sites (not 4222)")
	return cmd
}

func openStore(ctx context.Context, c config.Config) (*store.DB, error) {
	return store.Open(ctx, store.Options{DSN: c.Database.DSN, SQLitePath: c.SQLitePath()})
}

func migrateCmd(load func() (config.Config, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate [status]",
		Short: "Apply pending database migrations, or show their status",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := load()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			db, err := store.Connect(ctx, store.Options{DSN: c.Database.DSN, SQLitePath: c.SQLitePath()})
			if err != nil {
				return err
			}
			defer db.Close()
			if len(args) == 0 || args[0] != "status" {
				if err := db.Migrate(ctx); err != nil {
					return err
				}
			}
			st, err := db.MigrationStatus(ctx)
			if err != nil {
				return err
			}
			for _, l := range st {
				fmt.Println(l)
			}
			return nil
		},
	}
	return cmd
}

func auditCmd(load func() (config.Config, error)) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The audit log"}
	var asJSON, noWitness bool
	var extra []string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the hash chain, the signed checkpoints and the witnessed heads; exits 1 and names what is bad or missing",
		Long: `Verify the audit log: the hash chain, the signed checkpoints in the database, and the
heads signed into the witness files outside the database (audit.witness_file,
audit.external_witness_file, and any --witness FILE, such as tier 1's copy of this
site's heads). Only the witnessed heads are trusted about where the log ends: entries
cut off, a rewound log and a wiped log are named. --no-witness checks the database alone.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			site, err := openOffline(ctx, load)
			if err != nil {
				return err
			}
			defer site.db.Close()
			keys := map[string]auditPub{site.keyID: site.key.Public().(auditPub)}
			var rep audit.Report
			if noWitness {
				rep, err = audit.VerifyKeys(ctx, site.db, keys)
			} else {
				files := []string{site.cfg.AuditWitnessPath()}
				if x := site.cfg.Audit.ExternalWitnessFile; x != "" {
					files = append(files, x)
				}
				rep, err = audit.VerifyFiles(ctx, site.db, keys, site.cfg.Site.ID, append(files, extra...)...)
			}
			if err != nil {
				return err
			}
			if asJSON {
				_ = json.NewEncoder(os.Stdout).Encode(rep)
			} else {
				printAuditReport(rep, noWitness)
			}
			if !rep.OK {
				return fmt.Errorf("audit log is NOT intact: %s at seq %d", rep.Problem, rep.BadSeq)
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	verify.Flags().BoolVar(&noWitness, "no-witness", false, "check the database alone (the end of the log is then not proven)")
	verify.Flags().StringArrayVar(&extra, "witness", nil, "another witness file of this site's heads (repeatable)")
	cmd.AddCommand(verify)
	return cmd
}

// printAuditReport prints a verification in Vietnamese, then English.
func printAuditReport(rep audit.Report, noWitness bool) {
	if m := rep.Explain(); m.VI != "" {
		fmt.Println(m.VI)
	}
	for _, l := range rep.WitnessBadLines {
		fmt.Printf("  %s dòng/line %d: %s %s\n", l.Source, l.Line, l.Problem, l.Detail)
	}
	switch {
	case noWitness:
		fmt.Println("Cảnh báo: chỉ kiểm tra cơ sở dữ liệu, không đối chiếu bên chứng thực (không chứng minh được nhật ký không bị cắt bớt).")
	case rep.OK && rep.Witnessed > 0:
		fmt.Printf("Nhật ký nguyên vẹn: %d bản ghi, khớp %d đầu chuỗi được chứng thực (mới nhất: bản ghi %d lúc %s).\n",
			rep.Entries, rep.Witnessed, rep.WitnessSeq, time.UnixMilli(rep.WitnessAt).In(vnTime).Format("02/01/2006 15:04"))
	case rep.OK:
		fmt.Printf("Nhật ký nguyên vẹn: %d bản ghi; bên chứng thực chưa có đầu chuỗi nào.\n", rep.Entries)
	}
	fmt.Println(rep.String())
}

// vnTime is Asia/Ho_Chi_Minh (UTC+7, no daylight saving).
var vnTime = time.FixedZone("ICT", 7*3600)

func userCmd(load func() (config.Config, error)) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage accounts from the server's shell"}
	withAuth := func(cmd *cobra.Command, fn func(ctx context.Context, a *app.App) error) error {
		c, err := load()
		if err != nil {
			return err
		}
		a, err := app.Open(cmd.Context(), c, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), app.Options{})
		if err != nil {
			return err
		}
		defer a.Close()
		return fn(cmd.Context(), a)
	}
	shell := auth.Actor{UserID: "system", Username: "cli:" + os.Getenv("USER"), Remote: "local"}

	var org, roles, display string
	add := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Create an account with a one-time password (printed once; changed at first login)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAuth(cmd, func(ctx context.Context, a *app.App) error {
				if org == "" {
					org = a.Cfg.Access.HighestOrg
				}
				if org == a.Cfg.Access.HighestOrg {
					if err := ensureHighestOrg(ctx, a); err != nil {
						return err
					}
				}
				pw := oneTimePassword()
				u, err := a.Auth.CreateUser(ctx, shell, auth.NewUser{Username: args[0], DisplayName: display, OrgID: org,
					Roles: strings.Split(roles, ","), InitialPassword: pw})
				if err != nil {
					return err
				}
				fmt.Printf("created %s (%s) in %s\none-time password: %s\n", u.Username, u.ID, u.OrgID, pw)
				return nil
			})
		},
	}
	add.Flags().StringVar(&org, "org", "", "organisation id (default: the highest-access organisation)")
	add.Flags().StringVar(&roles, "roles", "viewer", "comma-separated roles: admin, operator, viewer, auditor")
	add.Flags().StringVar(&display, "name", "", "display name")

	passwd := &cobra.Command{
		Use:   "passwd USERNAME",
		Short: "Reset a password to a one-time password (printed once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAuth(cmd, func(ctx context.Context, a *app.App) error {
				u, err := a.Auth.GetByUsername(ctx, args[0])
				if err != nil {
					return err
				}
				pw := oneTimePassword()
				if err := a.Auth.SetPassword(ctx, shell, u.ID, pw); err != nil {
					return err
				}
				fmt.Printf("one-time password for %s: %s\n", u.Username, pw)
				return nil
			})
		},
	}
	disable := &cobra.Command{
		Use:   "disable USERNAME",
		Short: "Disable an account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAuth(cmd, func(ctx context.Context, a *app.App) error {
				u, err := a.Auth.GetByUsername(ctx, args[0])
				if err != nil {
					return err
				}
				return a.Auth.Disable(ctx, shell, u.ID)
			})
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAuth(cmd, func(ctx context.Context, a *app.App) error {
				us, err := a.Auth.List(ctx, auth.ListFilter{IncludeDisabled: true})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
				fmt.Fprintln(tw, "USERNAME\tORG\tROLES\tDISABLED\tLAST LOGIN\tPASSWORD CHANGED")
				loc := a.Cfg.Location()
				for _, u := range us {
					last := "-"
					if !u.LastLoginAt.IsZero() {
						last = u.LastLoginAt.In(loc).Format("2006-01-02 15:04")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", u.Username, u.OrgID, strings.Join(u.Roles, ","), u.Disabled, last,
						u.PasswordChangedAt.In(loc).Format("2006-01-02"))
				}
				return tw.Flush()
			})
		},
	}
	cmd.AddCommand(add, passwd, disable, list)
	return cmd
}
