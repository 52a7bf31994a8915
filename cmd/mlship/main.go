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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
