//go:build !linux

package sampleapp

import "syscall"

// procAttr: only Linux can tie a child's life to its parent's; elsewhere a
// task outlives a parent that is killed without running Stop.
func procAttr() *syscall.SysProcAttr { return nil }
