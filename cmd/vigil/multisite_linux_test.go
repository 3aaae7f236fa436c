package main

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the child die with the test binary, even when that is
// killed by `go test -timeout` before any cleanup runs.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
