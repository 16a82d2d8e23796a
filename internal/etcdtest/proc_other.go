//go:build !linux

package etcdtest

import "os/exec"

// setProcAttr does nothing where the parent's death cannot be signalled.
func setProcAttr(*exec.Cmd) {}
