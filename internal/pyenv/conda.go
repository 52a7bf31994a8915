package pyenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// condaTools are tried in order. mamba and micromamba create the same
// environments from the same file (MLflow lets MLFLOW_CONDA_CREATE_ENV_CMD
// swap in mamba); conda comes first because it is what MLflow runs.
var condaTools = []string{"conda", "mamba", "micromamba"}

// conda prepares an environment with `conda env create` from the model's
// conda.yaml, keyed by that file's content.
func (p *preparer) conda(ctx context.Context) (*Env, error) {
	tool, toolName := "", ""
	for _, n := range condaTools {
		if t := p.lookPath(n); t != "" {
			tool, toolName = t, n
			break
		}
	}
	if tool == "" {
		return nil, fmt.Errorf("%w: conda not found on PATH (nor mamba or micromamba); install conda (Miniforge) or micromamba, or use --env-manager virtualenv|local", ErrToolNotFound)
	}
	if p.o.Python != "" {
		p.log.Warn("--python is ignored with --env-manager conda: conda.yaml names the Python", "python", p.o.Python)
	}
	mf, err := readModelFiles(p.o.ModelDir)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(p.o.ModelDir, mf.conda)
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("model %s has no %s for --env-manager conda; use --env-manager virtualenv|local", p.o.ModelDir, mf.conda)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	cd, err := parseCondaDeps(data, mf.conda)
	if err != nil {
		return nil, err
	}
	// The pip section may include files (-r requirements.txt): their
	// content belongs in the key as much as conda.yaml's.
	pipReqs, err := expandRequirements(filepath.Dir(file), cd.pip)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", mf.conda, err)
	}
	key := hashKey("pyenv-v1", Conda, string(data), pipReqs, strings.Join(p.o.PipFindLinks, "\n"))
	// conda runs pip for the pip section itself; the find-links reach it
	// through pip's environment variables.
	env := p.childEnv()
	if len(p.o.PipFindLinks) > 0 {
		env = append(env, "PIP_FIND_LINKS="+strings.Join(p.o.PipFindLinks, " "), "PIP_NO_INDEX=1")
	}
	plan := buildPlan{
		key:         key,
		interpreter: filepath.Join("bin", "python"),
		marker:      &marker{Manager: Conda, Python: cd.python, Source: mf.conda, ModelDir: p.o.ModelDir},
		build: func(ctx context.Context, dir string) error {
			argv := []string{tool, "env", "create", "--prefix", dir, "--file", file}
			if toolName == "micromamba" {
				argv = []string{tool, "create", "--yes", "--prefix", dir, "--file", file}
			}
			tail, err := p.run(ctx, command{name: toolName, argv: argv, dir: p.o.ModelDir, env: env})
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("creating conda environment from %s: %w; last output:\n%s\n%s", mf.conda, err, indent(tail), p.pipHint())
			}
			return err
		},
	}
	dir, reused, err := p.ensure(ctx, plan)
	if err != nil {
		return nil, err
	}
	e := &Env{Python: filepath.Join(dir, "bin", "python"), Manager: Conda, Dir: dir}
	if reused {
		e.Reason = fmt.Sprintf("cached conda environment %s (from %s)", key, mf.conda)
	} else {
		e.Reason = fmt.Sprintf("created conda environment %s from %s with %s", key, mf.conda, toolName)
	}
	spec := &pySpec{Source: mf.conda}
	if cd.pythonPinned {
		spec.Python = cd.python
	}
	return p.finish(ctx, e, spec)
}
