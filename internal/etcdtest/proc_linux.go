package etcdtest

import (
	"os/exec"
	"syscall"
)

// setProcAttr kills etcd if the test process dies first.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
