// Command mlship packages MLflow models and serves them fast.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mlship/mlship/internal/cli"
)

func main() {
	// SIGHUP (the terminal closed) ends mlship like SIGTERM: a server drains,
	// `mlship run` ends its run KILLED and stops the command's process group
	// instead of dying with the run left RUNNING. Unless SIGHUP was ignored
	// at start (nohup): asking for it would undo that.
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
