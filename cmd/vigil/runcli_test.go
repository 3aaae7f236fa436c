package main

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/spf13/cobra"
)

// runCLI runs cmd with args in process and returns what it printed on
// standard output and its error.
func runCLI(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() { b, _ := io.ReadAll(r); out <- string(b) }()
	cmd.SetArgs(args)
	runErr := cmd.ExecuteContext(context.Background())
	os.Stdout = stdout
	w.Close()
	return <-out, runErr
}
