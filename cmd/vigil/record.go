package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-vms/vigil/internal/app"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
)

// recordCmd: `vigil record check [--repair]` compares the segment index with
// the storage folders and reports (and with --repair fixes) what differs.
func recordCmd(load func() (config.Config, error)) *cobra.Command {
	cmd := &cobra.Command{Use: "record", Short: "Recordings: check the index against the disk"}
	var repair, asJSON bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Verify every segment file's fragments against the index: segments left open by a crash, torn fragments inside a file, files missing from the index, rows whose file is gone, and the footage lost; --repair fixes them (server stopped)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			site, err := openOffline(ctx, load)
			if err != nil {
				return err
			}
			defer site.db.Close()
			c, db := site.cfg, site.db
			lg := audit.New(audit.Options{Key: site.key, KeyID: site.keyID, DB: db})
			rec, err := record.New(record.Options{Folders: app.RecordFolders(c.DataDir, c.Recording.Folders), Node: c.Site.ID}, db, lg, nil, nil, nil)
			if err != nil {
				return err
			}
			rep, err := rec.Check(ctx, repair)
			if err != nil {
				return err
			}
			if asJSON {
				_ = json.NewEncoder(os.Stdout).Encode(rep)
			} else {
				fmt.Println(rep.String())
				for _, p := range rep.Problems {
					fmt.Println("  problem:", p)
				}
				loc := vnZone()
				for _, l := range rep.Lost {
					fmt.Printf("  mất hình / footage lost: camera %s %s → %s (%s)\n", l.CameraID,
						time.UnixMilli(l.FromMS).In(loc).Format("02/01/2006 15:04:05.000"),
						time.UnixMilli(l.ToMS).In(loc).Format("02/01/2006 15:04:05.000"), time.Duration(l.ToMS-l.FromMS)*time.Millisecond)
				}
				switch {
				case rep.OK():
					fmt.Println("Chỉ mục và đĩa khớp nhau. / Index and disk agree.")
				case repair:
					fmt.Println("Đã sửa chỉ mục. / The index was repaired.")
				default:
					fmt.Println("Chỉ mục và đĩa khác nhau; chạy lại với --repair khi máy chủ dừng. / Index and disk differ; run again with --repair while the server is stopped.")
				}
			}
			if !rep.OK() && !repair {
				return errors.New("recordings need repair")
			}
			return nil
		},
	}
	check.Flags().BoolVar(&repair, "repair", false, "fix what was found (only while `vigil serve` is stopped)")
	check.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(check)
	return cmd
}

// vnZone is Asia/Ho_Chi_Minh, where the CLI shows times.
func vnZone() *time.Location {
	if loc, err := time.LoadLocation("Asia/Ho_Chi_Minh"); err == nil {
		return loc
	}
	return time.FixedZone("ICT", 7*3600)
}

// evidenceCmd: `vigil evidence verify FILE MANIFEST` checks an export
// offline: the manifest's Ed25519 signature, then the file's size and
// SHA-256. No database, no network.
func evidenceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "evidence", Short: "Evidence exports"}
	var keyID string
	verify := &cobra.Command{
		Use:   "verify FILE MANIFEST",
		Short: "Verify an exported clip against its signed manifest, offline; exits 1 when anything differs",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := playback.VerifyFiles(args[0], args[1], keyID)
			p := v.Payload
			if !v.OK {
				fmt.Println("KHÔNG HỢP LỆ / NOT VALID:", v.Problem)
				return errors.New("evidence verification failed")
			}
			fmt.Println("HỢP LỆ / VALID")
			fmt.Printf("  export:    %s (site %s %q)\n", p.ExportID, p.Site.ID, p.Site.Name)
			fmt.Printf("  camera:    %s %q\n", p.Camera.ID, p.Camera.Name)
			fmt.Printf("  range:     %s → %s (%d ms, gaps %d)\n", p.From, p.To, p.DurationMS, len(p.Gaps))
			fmt.Printf("  file:      %s, %d bytes, sha256 %s\n", p.File.Name, p.File.Bytes, p.File.SHA256)
			fmt.Printf("  performer: %s (%s)\n", p.Performer.Name, p.Performer.Org)
			fmt.Printf("  requester: %s, %s, %s\n", p.Requester.Name, p.Requester.Organisation, p.Requester.Document)
			fmt.Printf("  purpose:   %s\n", p.Purpose)
			fmt.Printf("  created:   %s\n", p.CreatedAt)
			fmt.Printf("  signed by key %s", v.KeyID)
			if keyID == "" {
				fmt.Print(" (compare with the site's published key id: GET /api/v1/evidence/key, or pass --key-id)")
			}
			fmt.Println()
			return nil
		},
	}
	verify.Flags().StringVar(&keyID, "key-id", "", "the site's published key id the manifest must be signed with")
	cmd.AddCommand(verify)
	return cmd
}
