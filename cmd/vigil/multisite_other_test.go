//go:build !linux

package main

import "os/exec"

// dieWithTest: only Linux can tie a child's life to its parent's; elsewhere
// the children are stopped by the test's cleanup and its deadline watchdog.
func dieWithTest(*exec.Cmd) {}
