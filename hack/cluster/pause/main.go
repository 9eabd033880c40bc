// Command pause is the pod sandbox's process: it holds the pod's namespaces
// and waits for a signal. Built static, so the cluster needs no external image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	signal.Ignore(syscall.SIGCHLD) // PID 1 of the sandbox: let the kernel reap
	<-signals
}
