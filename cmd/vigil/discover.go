package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-vms/vigil/internal/onvif"
)

func discoverCmd() *cobra.Command {
	var target string
	var timeout time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "Find ONVIF cameras on the local network (WS-Discovery probe)",
		Long: "Sends a WS-Discovery Probe for NetworkVideoTransmitter devices to the multicast group 239.255.255.250:3702 " +
			"(or --target host:port) and lists the devices that answer: their device service addresses (xaddr), name and hardware. " +
			"Attach one to a camera with PUT /api/v1/cameras/{id}/onvif.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			found, err := onvif.Discover(ctx, target, timeout)
			if err != nil && ctx.Err() == nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				e := json.NewEncoder(out)
				e.SetIndent("", "  ")
				if found == nil {
					found = []onvif.Discovered{}
				}
				return e.Encode(found)
			}
			if len(found) == 0 {
				fmt.Fprintln(out, "no ONVIF device answered")
				return nil
			}
			for _, d := range found {
				fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", strings.Join(d.XAddrs, " "), d.Name, d.Hardware, d.Endpoint)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", onvif.MulticastAddr, "where to send the probe (multicast group or a host:port)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to collect answers")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
