package sampleapp

import "syscall"

// procAttr makes the kernel kill a task when the process that started it
// dies, however it dies (even SIGKILL, where no deferred Stop runs), so no
// task outlives a rehearsal or a test. The signal follows the thread that
// started the task; Go's runtime keeps its threads unless a goroutine
// locked to one exits, which this package never does.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
