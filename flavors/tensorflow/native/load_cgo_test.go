//go:build cgo

package native

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadWithoutTensorFlow: a file that is not a library, and a library
// that is not TensorFlow, fail with errors saying so (this machine has no
// TensorFlow C library to load a SavedModel with).
func TestLoadWithoutTensorFlow(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), LibName)
	if err := os.WriteFile(garbage, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	sig := Signature{Key: "serving_default", Outputs: []IO{{Name: "y", Tensor: "y:0"}}}
	_, err := Load(context.Background(), garbage, t.TempDir(), []string{"serve"}, sig, log)
	if err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("garbage library: %v", err)
	}
	libc := ""
	for _, p := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib64/libc.so.6"} {
		if _, err := os.Stat(p); err == nil {
			libc = p
		}
	}
	if libc == "" {
		t.Skip("no libc.so.6 to try as a wrong library")
	}
	_, err = Load(context.Background(), libc, t.TempDir(), []string{"serve"}, sig, log)
	if err == nil || !strings.Contains(err.Error(), "is not the TensorFlow C library: symbol TF_NewStatus is missing") {
		t.Errorf("libc: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, libc, t.TempDir(), nil, sig, log); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
