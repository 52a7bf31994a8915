package pyenv

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// systemPythons are tried after PATH, so that a service started with a
// minimal PATH still finds the distribution's interpreter, which is where
// apt installs python3-numpy and python3-pandas.
var systemPythons = []string{"/usr/bin/python3", "/usr/local/bin/python3"}

// local picks an existing interpreter: MLflow's "local" manager runs the
// model in the current environment, and mlship has no current Python, so
// it looks for the one the user most likely means.
func (p *preparer) local(ctx context.Context) (*Env, error) {
	if p.o.Python != "" {
		return p.localExplicit(ctx)
	}
	return p.localSearch(ctx, p.localCandidates(systemPythons))
}

func (p *preparer) localExplicit(ctx context.Context) (*Env, error) {
	path, err := p.resolveExplicit()
	if err != nil {
		return nil, err
	}
	in, err := p.probe(ctx, path, p.o.Require)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s (--python / MLSHIP_PYTHON): %w", ErrNoInterpreter, path, err)
	}
	if len(in.missing) > 0 {
		return nil, fmt.Errorf("%w: %s (Python %s, from --python / MLSHIP_PYTHON) cannot import what the model needs: %s. "+
			"Install them into it (%s -m pip install %s), or pass another interpreter",
			ErrNoInterpreter, path, in.version, in.missingText(), path, strings.Join(in.missingNames(), " "))
	}
	env := &Env{Python: path, Manager: Local, Version: in.version, Reason: "explicit interpreter (--python / MLSHIP_PYTHON)"}
	p.log.Info("python interpreter", "python", env.Python, "version", env.Version, "reason", env.Reason)
	return env, nil
}

// localCandidates lists, in order: the active virtualenv's python, every
// python3 on PATH, then the fixed system locations.
func (p *preparer) localCandidates(system []string) []candidate {
	var l candidateList
	if v := p.getenv("VIRTUAL_ENV"); v != "" {
		l.add(filepath.Join(v, "bin", "python"), "python of the active virtualenv (VIRTUAL_ENV)")
	}
	for _, d := range p.pathDirs() {
		if c := filepath.Join(d, "python3"); isExecutable(c) {
			l.add(c, "first python3 on PATH")
		}
	}
	for _, s := range system {
		l.add(s, "system python3")
	}
	return l.list
}

// localSearch probes candidates in order and takes the first that imports
// every required module, saying in Reason what it skipped and why: on a
// machine where a pyenv python3 shadows Debian's, that is the one line the
// user needs to understand which interpreter serves the model.
func (p *preparer) localSearch(ctx context.Context, cands []candidate) (*Env, error) {
	var skipped []attempt
	for _, c := range cands {
		if !isExecutable(c.path) {
			skipped = append(skipped, attempt{c.path, "not found"})
			continue
		}
		in, err := p.probe(ctx, c.path, p.o.Require)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			skipped = append(skipped, attempt{c.path, err.Error()})
			continue
		}
		if len(in.missing) > 0 {
			skipped = append(skipped, attempt{c.path, "Python " + in.version + ": " + in.missingText()})
			continue
		}
		reason := c.origin
		if len(p.o.Require) > 0 {
			reason += " that imports " + strings.Join(p.o.Require, ", ")
		}
		if len(skipped) > 0 {
			reason += "; skipped " + formatAttempts(skipped)
		}
		env := &Env{Python: c.path, Manager: Local, Version: in.version, Reason: reason}
		p.log.Info("python interpreter", "python", env.Python, "version", env.Version, "reason", env.Reason)
		return env, nil
	}
	need := ""
	if len(p.o.Require) > 0 {
		need = " that imports " + strings.Join(p.o.Require, ", ")
	}
	tried := formatAttempts(skipped)
	if tried == "" {
		tried = "nothing (no VIRTUAL_ENV, no python3 on PATH)"
	}
	return nil, fmt.Errorf("%w%s; tried %s. Fix: install Python 3%s (Debian/Ubuntu: apt-get install %s), "+
		"pass --python (or set MLSHIP_PYTHON) naming an interpreter%s, or use --env-manager virtualenv to build an environment from the model's requirements",
		ErrNoInterpreter, need, tried, withModules(p.o.Require), strings.Join(aptPackages(p.o.Require), " "), hasModules(p.o.Require))
}

func withModules(mods []string) string {
	if len(mods) == 0 {
		return ""
	}
	return " with " + strings.Join(mods, ", ")
}

func hasModules(mods []string) string {
	if len(mods) == 0 {
		return ""
	}
	return " that has them"
}

// aptNames maps import names to Debian packages where the two differ.
var aptNames = map[string]string{
	"sklearn": "python3-sklearn", "yaml": "python3-yaml", "PIL": "python3-pil",
	"cv2": "python3-opencv", "google.protobuf": "python3-protobuf",
}

// aptPackages names the Debian packages that provide python3 and mods.
func aptPackages(mods []string) []string {
	pkgs := []string{"python3"}
	for _, m := range mods {
		if n, ok := aptNames[m]; ok {
			pkgs = append(pkgs, n)
		} else {
			pkgs = append(pkgs, "python3-"+strings.ToLower(strings.ReplaceAll(m, "_", "-")))
		}
	}
	return pkgs
}
