package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-vms/vigil/internal/ops"
)

func probeCmd() *cobra.Command {
	var asJSON bool
	var o ops.ProbeOptions
	cmd := &cobra.Command{
		Use:   "probe rtsp://[user:pass@]host[:port]/path",
		Short: "Check a camera's compatibility with tier 1: RTSP, codecs, resolution, fps, sub stream, ONVIF, security baseline (R-INS-3)",
		Long: "Connects to the camera and reports codecs, resolution, frame rate, the sub stream, RTSP/ONVIF reachability and " +
			"security findings (no authentication, factory credentials accepted, plain-HTTP administration). " +
			"Exit status 0: compatible and no high-severity finding; 3: otherwise; 1: the URL is unusable.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			r, err := ops.Probe(ctx, args[0], o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				e := json.NewEncoder(out)
				e.SetIndent("", "  ")
				if err := e.Encode(r); err != nil {
					return err
				}
			} else {
				printProbe(out, r)
			}
			if !r.Compatible || !r.BaselineOK {
				cmd.SilenceErrors = true
				os.Exit(3)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON (the form stored with an installation request)")
	cmd.Flags().StringVar(&o.SubURL, "sub", "", "sub stream URL (default: derived from the main URL)")
	cmd.Flags().DurationVar(&o.Measure, "measure", 2*time.Second, "how long to count frames")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Second, "timeout of each network step")
	cmd.Flags().StringVar(&o.HTTPPort, "http-port", "80", "port of the camera's web/ONVIF interface")
	return cmd
}

func printProbe(w io.Writer, r *ops.ProbeReport) {
	yn := func(b bool) string {
		if b {
			return "có / yes"
		}
		return "không / no"
	}
	fmt.Fprintf(w, "Camera:              %s\n", r.Target)
	fmt.Fprintf(w, "RTSP port reachable: %s\n", yn(r.Reachable))
	fmt.Fprintf(w, "RTSP session:        %s\n", yn(r.RTSP))
	fmt.Fprintf(w, "Auth required:       %s\n", yn(r.AuthRequired))
	for _, s := range []struct {
		n string
		p *ops.ProbeStream
	}{{"Main stream", r.Main}, {"Sub stream", r.Sub}} {
		if s.p == nil {
			fmt.Fprintf(w, "%-20s -\n", s.n+":")
			continue
		}
		fmt.Fprintf(w, "%-20s %s %dx%d", s.n+":", s.p.Codec, s.p.Width, s.p.Height)
		if s.p.FPS > 0 {
			fmt.Fprintf(w, " %.1f fps", s.p.FPS)
		}
		if len(s.p.Audio) > 0 {
			fmt.Fprintf(w, " audio %v", s.p.Audio)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "ONVIF:               %s\n", yn(r.ONVIF))
	fmt.Fprintf(w, "Compatible (tier 1): %s\n", yn(r.Compatible))
	fmt.Fprintf(w, "Security baseline:   %s\n", map[bool]string{true: "đạt / pass", false: "KHÔNG ĐẠT / FAIL"}[r.BaselineOK])
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  [%s] %s: %s\n", f.Severity, f.Code, f.Message)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}
