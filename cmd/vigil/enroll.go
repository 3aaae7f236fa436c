package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/federation"
	"github.com/vigil-vms/vigil/internal/secrets"
)

// enrollCmd joins this (lower) site to tier 1 with a one-time token issued
// there (POST /api/v1/federation/enrollments). The leaf credentials are kept
// in the data folder, sealed with the site key; `vigil serve` then dials the
// leaf connection out to tier 1.
func enrollCmd(load func() (config.Config, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "enroll URL TOKEN",
		Short: "Join this site to tier 1 (URL: tier 1's https address; TOKEN: the one-time enrollment token)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := load()
			if err != nil {
				return err
			}
			if c.Site.Tier == 1 {
				return fmt.Errorf("site.tier is 1: a tier-1 site does not enroll with another site")
			}
			key, _, err := secrets.LoadKey(c.Secrets.Key, c.Secrets.KeyFile, c.DataDir)
			if err != nil {
				return err
			}
			sealer, err := secrets.NewSealer(key)
			if err != nil {
				return err
			}
			cr, err := federation.Enroll(cmd.Context(), nil, args[0], args[1], c.Site.ID, c.DataDir, sealer)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stdout, "enrolled: site %s → tier 1 %s, leaf %s, systems %v\n", cr.SiteID, cr.HubSiteID, cr.LeafURL, cr.Systems)
			fmt.Fprintln(os.Stdout, "start (or restart) `vigil serve` to connect.")
			return nil
		},
	}
}
