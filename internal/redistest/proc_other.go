//go:build !linux

package redistest

import "os/exec"

// setProcAttr does nothing where the parent's death cannot be signalled.
func setProcAttr(*exec.Cmd) {}
