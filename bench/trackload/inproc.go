package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// startInProcess serves the tracking API from this process, wired as
// `mlship server` wires it (SQLite store, artifact proxy, no UI), so that
// a CPU profile of this process shows where the server's time goes. The
// clients run in the same process: profiles are read with that in mind
// (their frames are under bench/trackload and net/http's client).
func startInProcess(ctx context.Context, db string, port int) (*serverProc, error) {
	abs, err := filepath.Abs(db)
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, "sqlite:///"+abs, sqlstore.Options{DefaultArtifactRoot: "mlflow-artifacts:/"})
	if err != nil {
		return nil, err
	}
	srv, err := server.New(store, server.Options{ServeArtifacts: true, DefaultArtifactRoot: "mlflow-artifacts:/",
		ArtifactsDestination: artifacts.NewLocal(filepath.Join(filepath.Dir(abs), "mlartifacts"))})
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		store.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &serverProc{url: "http://" + ln.Addr().String(), done: make(chan struct{}), inproc: cancel}
	go func() {
		p.err = srv.Serve(sctx, ln)
		store.Close()
		close(p.done)
	}()
	if err := p.waitHealthy(ctx, 30*time.Second); err != nil {
		cancel()
		<-p.done
		return nil, fmt.Errorf("in-process server: %w", err)
	}
	return p, nil
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
