//go:build !unix

package pyenv

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
)

// Process groups and flock(2) are Unix notions; elsewhere only the local
// manager works, and tools are stopped by killing the process alone.
func setGroup(*exec.Cmd) {}

func killGroup(*exec.Cmd) {}

func lockFile(context.Context, string, *slog.Logger) (func(), error) {
	return nil, errors.New("building environments needs a Unix system (file locks)")
}
