package projects

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlship/mlship/internal/pyenv"
	"github.com/mlship/mlship/projects/mlproject"
)

// EnvDocker is the mlflow.project.env value of docker projects.
const EnvDocker = "docker"

// envManager is MLflow's choice of --env-manager for a project: the
// user's, checked against the project, or the project's default
// (conda_env → conda, python_env → virtualenv, docker_env → docker). A
// project naming no environment file runs locally: MLflow would build an
// empty virtualenv of the current Python, which is the local interpreter
// with extra steps.
func envManager(p *mlproject.Project, asked string) (string, error) {
	switch asked {
	case "", pyenv.Local, pyenv.Virtualenv, pyenv.UV, pyenv.Conda:
	default:
		return "", fmt.Errorf("--env-manager must be local, virtualenv, uv or conda, not %q", asked)
	}
	switch p.EnvType {
	case mlproject.EnvDocker:
		if asked != "" && asked != pyenv.Local {
			return "", fmt.Errorf("docker_env projects run in their image; --env-manager %s does not apply", asked)
		}
		return EnvDocker, nil
	case mlproject.EnvConda:
		if asked == "" {
			return pyenv.Conda, nil
		}
	case mlproject.EnvPython:
		if asked == pyenv.Conda {
			return "", fmt.Errorf("python_env project cannot be executed using conda; set --env-manager to virtualenv, uv or local")
		}
		if asked == "" {
			if p.EnvFile == "" {
				return pyenv.Local, nil
			}
			return pyenv.Virtualenv, nil
		}
	}
	if asked != pyenv.Local && p.EnvFile == "" {
		return "", fmt.Errorf("--env-manager %s: the project names no environment file (python_env.yaml or conda.yaml); use --env-manager local", asked)
	}
	return asked, nil
}

// envOptions are what building a project environment needs.
type envOptions struct {
	CacheDir           string
	Python             string
	SystemSitePackages bool
	PipFindLinks       []string
	Getenv             func(string) string
	TempDir            string
}

// prepareEnv builds (or reuses) the project's environment with
// internal/pyenv, the machinery python_function models use: same keys,
// same cache, so a project and the model it logs share one environment.
// It returns the variables to add to the command's environment.
func prepareEnv(ctx context.Context, p *mlproject.Project, manager string, o envOptions, log *slog.Logger) ([]string, error) {
	if manager == pyenv.Local || manager == EnvDocker {
		return nil, nil
	}
	specDir, cleanup, err := stageSpec(p, o.TempDir)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	env, err := pyenv.Prepare(ctx, pyenv.Options{
		Manager: manager, Python: o.Python, ModelDir: specDir, CacheDir: o.CacheDir,
		PipFindLinks: o.PipFindLinks, SystemSitePackages: o.SystemSitePackages,
		Getenv: o.Getenv, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("project environment (%s): %w", manager, err)
	}
	log.Info("project environment", "manager", manager, "dir", env.Dir, "python", env.Version, "reason", env.Reason)
	bin := filepath.Join(env.Dir, "bin")
	vars := []string{"PATH=" + bin + string(os.PathListSeparator) + o.Getenv("PATH")}
	if manager == pyenv.Conda {
		vars = append(vars, "CONDA_PREFIX="+env.Dir, "CONDA_DEFAULT_ENV="+env.Dir)
	} else {
		vars = append(vars, "VIRTUAL_ENV="+env.Dir)
	}
	return vars, nil
}

// stageSpec returns a directory where pyenv finds the project's
// environment file under its usual name (python_env.yaml or conda.yaml):
// the directory holding the file when it has that name already, else a
// temporary directory with the file renamed and its siblings linked, so
// `-r requirements.txt` lines still resolve.
func stageSpec(p *mlproject.Project, tempDir string) (string, func(), error) {
	want := "python_env.yaml"
	if p.EnvType == mlproject.EnvConda {
		want = "conda.yaml"
	}
	file := filepath.Join(p.Dir, filepath.FromSlash(p.EnvFile))
	dir := filepath.Dir(file)
	if filepath.Base(file) == want {
		return dir, func() {}, nil
	}
	stage, err := os.MkdirTemp(tempDir, "mlship-envspec-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(stage) }
	entries, err := os.ReadDir(dir)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	for _, e := range entries {
		if e.Name() == want || strings.EqualFold(e.Name(), "MLmodel") {
			continue
		}
		src := filepath.Join(dir, e.Name())
		if e.Name() == filepath.Base(file) {
			data, err := os.ReadFile(src)
			if err == nil {
				err = os.WriteFile(filepath.Join(stage, want), data, 0o644)
			}
			if err != nil {
				cleanup()
				return "", nil, err
			}
			continue
		}
		if err := os.Symlink(src, filepath.Join(stage, e.Name())); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	return stage, cleanup, nil
}
