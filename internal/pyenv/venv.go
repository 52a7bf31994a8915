package pyenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// venv prepares a "virtualenv" or "uv" environment from the model's
// python_env.yaml (or its fallbacks, see readPySpec).
func (p *preparer) venv(ctx context.Context) (*Env, error) {
	uvPath := ""
	if p.o.Manager == UV {
		if uvPath = p.lookPath("uv"); uvPath == "" {
			return nil, fmt.Errorf("%w: uv not found on PATH; install uv or use --env-manager virtualenv|local", ErrToolNotFound)
		}
	}
	spec, err := readPySpec(p.o.ModelDir)
	if err != nil {
		return nil, err
	}
	reqs, err := expandRequirements(p.o.ModelDir, append(append([]string(nil), spec.BuildDeps...), spec.Deps...))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", spec.Source, err)
	}
	// The key leaves out which base interpreter builds the env (only
	// the version the spec asks for counts, as in MLflow), so reusing an
	// env needs no search for one. An explicit --python is the user's
	// choice of base and gets an env of its own.
	key := hashKey("pyenv-v1", p.o.Manager, spec.Python, p.o.Python,
		strings.Join(spec.BuildDeps, "\n"), reqs,
		strconv.FormatBool(p.o.SystemSitePackages), strings.Join(p.o.PipFindLinks, "\n"))
	m := &marker{Manager: p.o.Manager, Python: spec.Python, Source: spec.Source, ModelDir: p.o.ModelDir}
	plan := buildPlan{
		key:         key,
		interpreter: filepath.Join("bin", "python"),
		marker:      m,
		build: func(ctx context.Context, dir string) error {
			base, why, err := p.findBase(ctx, spec)
			switch {
			case err == nil:
				m.Base = fmt.Sprintf("%s (Python %s, %s)", base.path, base.version, why)
			case uvPath == "":
				return err
			default:
				// uv finds (and may download) interpreters itself;
				// MLflow passes it the version.
				p.log.Info("no local base interpreter; letting uv find Python "+spec.Python, "reason", err)
				m.Base = "Python " + spec.Python + " found by uv"
			}
			if uvPath != "" {
				return p.buildUV(ctx, uvPath, base, spec, dir)
			}
			return p.buildVirtualenv(ctx, base, spec, dir)
		},
	}
	dir, reused, err := p.ensure(ctx, plan)
	if err != nil {
		return nil, err
	}
	env := &Env{Python: filepath.Join(dir, "bin", "python"), Manager: p.o.Manager, Dir: dir}
	if reused {
		env.Reason = fmt.Sprintf("cached %s %s (from %s)", p.o.Manager, key, spec.Source)
		*m = readMarker(dir)
	} else {
		env.Reason = fmt.Sprintf("created %s %s from %s", p.o.Manager, key, spec.Source)
	}
	if m.Base != "" {
		env.Reason += " on " + m.Base
	}
	return p.finish(ctx, env, spec)
}

// finish checks the environment's interpreter: it runs, it is the
// version asked for, and it imports the required modules.
func (p *preparer) finish(ctx context.Context, env *Env, spec *pySpec) (*Env, error) {
	in, err := p.probe(ctx, env.Python, p.o.Require)
	if err != nil {
		return nil, fmt.Errorf("checking environment %s: %w", env.Dir, err)
	}
	env.Version = in.version
	if spec != nil && spec.Python != "" && majorMinor(in.version) != majorMinor(spec.Python) {
		return nil, fmt.Errorf("%w: environment %s runs Python %s, but %s asks for %s", ErrNoInterpreter, env.Dir, in.version, spec.Source, spec.Python)
	}
	if len(in.missing) > 0 {
		hint := "add them to the model's requirements"
		apt := strings.Join(aptPackages(in.missingNames())[1:], " ")
		switch {
		case p.o.Manager == Conda:
		case p.o.SystemSitePackages:
			hint += ", or install them for the base interpreter the environment extends (Debian: apt-get install " + apt + ")"
		default:
			hint += ", or let the environment see the base interpreter's packages (system site packages: --env-system-site-packages) " +
				"and install them there (Debian: apt-get install " + apt + ")"
		}
		return nil, fmt.Errorf("%w: the %s environment %s (Python %s) cannot import what the model needs: %s; %s",
			ErrNoInterpreter, env.Manager, env.Dir, in.version, in.missingText(), hint)
	}
	p.log.Info("python interpreter", "python", env.Python, "version", env.Version, "reason", env.Reason)
	return env, nil
}

// buildVirtualenv creates the env with the base's venv module (MLflow uses
// the virtualenv package, which Debian's Python lacks; venv is stdlib)
// and installs the build dependencies, then the requirements.
func (p *preparer) buildVirtualenv(ctx context.Context, base *interp, spec *pySpec, dir string) error {
	argv := []string{base.path, "-m", "venv"}
	if p.o.SystemSitePackages {
		argv = append(argv, "--system-site-packages")
	}
	argv = append(argv, dir)
	if tail, err := p.run(ctx, command{name: "venv", argv: argv, dir: p.envsDir(), env: p.childEnv()}); err != nil {
		if ctx.Err() != nil {
			return err
		}
		hint := ""
		if strings.Contains(tail, "ensurepip") {
			hint = fmt.Sprintf("\nfix: the base interpreter lacks ensurepip; on Debian/Ubuntu install python%s-venv (apt-get install python3-venv)", majorMinor(base.version))
		}
		return fmt.Errorf("creating virtualenv with %s: %w; last output:\n%s%s", base.path, err, indent(tail), hint)
	}
	pip := []string{filepath.Join(dir, "bin", "python"), "-m", "pip", "install", "--no-input", "--disable-pip-version-check"}
	return p.installDeps(ctx, pip, spec)
}

// buildUV is buildVirtualenv with uv, as MLflow's uv manager does it.
func (p *preparer) buildUV(ctx context.Context, uv string, base *interp, spec *pySpec, dir string) error {
	python := spec.Python
	if base != nil {
		python = base.path
	}
	argv := []string{uv, "venv", "--python", python}
	if p.o.SystemSitePackages {
		argv = append(argv, "--system-site-packages")
	}
	argv = append(argv, dir)
	if tail, err := p.run(ctx, command{name: "uv venv", argv: argv, dir: p.envsDir(), env: p.childEnv()}); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("creating environment with uv: %w; last output:\n%s", err, indent(tail))
	}
	pip := []string{uv, "pip", "install", "--python", filepath.Join(dir, "bin", "python")}
	return p.installDeps(ctx, pip, spec)
}

// installDeps runs the installer twice, build dependencies first (MLflow
// does, so that pinned pip/setuptools versions build the requirements).
// It runs in the model directory so that "-r requirements.txt" and the
// -c/-r files those include resolve as MLflow resolves them.
func (p *preparer) installDeps(ctx context.Context, installer []string, spec *pySpec) error {
	var links []string
	for _, l := range p.o.PipFindLinks {
		links = append(links, "--find-links", l)
	}
	if len(links) > 0 {
		links = append(links, "--no-index")
	}
	for _, step := range []struct {
		what  string
		lines []string
	}{{"build dependencies", spec.BuildDeps}, {"requirements", spec.Deps}} {
		args := requirementArgs(step.lines)
		if len(args) == 0 {
			continue
		}
		p.log.Info("installing "+step.what, "requirements", strings.Join(args, " "))
		argv := append(append(append([]string(nil), installer...), links...), args...)
		name := "pip"
		if filepath.Base(installer[0]) == "uv" {
			name = "uv pip"
		}
		tail, err := p.run(ctx, command{name: name, argv: argv, dir: p.o.ModelDir, env: p.childEnv()})
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("installing %s from %s: %w; last output:\n%s\n%s", step.what, spec.Source, err, indent(tail), p.pipHint())
	}
	return nil
}

// pipHint says how to fix a failed install: offline, the wheel directory
// is incomplete; online, the index is unreachable or a pin does not exist.
func (p *preparer) pipHint() string {
	if len(p.o.PipFindLinks) > 0 {
		return fmt.Sprintf("fix: installs are offline (--no-index) from %s: add wheels for every requirement there "+
			"(on a connected machine: pip download -r requirements.txt -d DIR), or use --env-manager local",
			strings.Join(p.o.PipFindLinks, ", "))
	}
	return "fix: check network access to the package index (PIP_INDEX_URL, proxies); " +
		"offline, pass --pip-find-links DIR with wheels for every requirement " +
		"(pip download -r requirements.txt -d DIR on a connected machine), or use --env-manager local"
}

// findBase picks the interpreter a virtualenv is created from: one with
// the major.minor version the spec names. MLflow installs the exact
// version with pyenv; mlship only uses interpreters already present.
func (p *preparer) findBase(ctx context.Context, spec *pySpec) (*interp, string, error) {
	want := majorMinor(spec.Python)
	// With system site packages the base's packages become the env's, so
	// a base that already imports what the caller needs is worth more
	// than an exact patch version.
	wantImports := p.o.SystemSitePackages && len(p.o.Require) > 0
	if p.o.Python != "" {
		path, err := p.resolveExplicit()
		if err != nil {
			return nil, "", err
		}
		in, err := p.probe(ctx, path, nil)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %s (--python / MLSHIP_PYTHON): %w", ErrNoInterpreter, path, err)
		}
		if want != "" && majorMinor(in.version) != want {
			return nil, "", fmt.Errorf("%w: %s (--python / MLSHIP_PYTHON) is Python %s, but %s asks for Python %s; "+
				"pass a Python %s interpreter or use --env-manager local", ErrNoInterpreter, path, in.version, spec.Source, spec.Python, want)
		}
		return in, "explicit base interpreter (--python / MLSHIP_PYTHON)", nil
	}
	var matches []*interp
	var skipped []attempt
	for _, c := range p.baseCandidates(want, spec.Python) {
		in, err := p.probe(ctx, c.path, nil)
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", err
			}
			skipped = append(skipped, attempt{c.path, err.Error()})
			continue
		}
		if want != "" && majorMinor(in.version) != want {
			skipped = append(skipped, attempt{c.path, "Python " + in.version})
			continue
		}
		matches = append(matches, in)
		patchAsked := strings.Count(spec.Python, ".") >= 2
		if !wantImports && (in.version == spec.Python || !patchAsked) {
			break // exact (or no patch asked for): nothing can be better
		}
	}
	if len(matches) == 0 {
		tried := formatAttempts(skipped)
		if tried == "" {
			tried = "no python3 on PATH, in /usr/bin, /usr/local/bin or pyenv"
		}
		return nil, "", fmt.Errorf("%w: no Python %s interpreter for %s (python: %s); tried %s. "+
			"Fix: install Python %s (Debian/Ubuntu: apt-get install python%s python%s-venv; or pyenv install %s), "+
			"pass --python naming one, or use --env-manager local",
			ErrNoInterpreter, want, spec.Source, spec.Python, tried, want, want, want, spec.Python)
	}
	// Exact patch versions first; the candidate order breaks ties.
	sort.SliceStable(matches, func(i, j int) bool {
		return matches[i].version == spec.Python && matches[j].version != spec.Python
	})
	if wantImports {
		for _, m := range matches {
			in, err := p.probe(ctx, m.path, p.o.Require)
			if err != nil {
				if ctx.Err() != nil {
					return nil, "", err
				}
				continue
			}
			if len(in.missing) == 0 {
				return in, "Python " + want + " that imports " + strings.Join(p.o.Require, ", "), nil
			}
		}
	}
	why := "first Python " + want + " found"
	if matches[0].version == spec.Python {
		why = "exact version match"
	}
	return matches[0], why, nil
}

// baseCandidates lists possible base interpreters for Python want
// ("3.11"): versioned and plain python3 on PATH, the distribution's
// locations, then pyenv's installed versions (exact patch first).
func (p *preparer) baseCandidates(want, exact string) []candidate {
	var l candidateList
	names := []string{"python3"}
	if want != "" {
		names = []string{"python" + want, "python3"}
	}
	for _, d := range p.pathDirs() {
		for _, n := range names {
			if c := filepath.Join(d, n); isExecutable(c) {
				l.add(c, "PATH")
			}
		}
	}
	for _, d := range []string{"/usr/bin", "/usr/local/bin"} {
		for _, n := range names {
			if c := filepath.Join(d, n); isExecutable(c) {
				l.add(c, "system")
			}
		}
	}
	for _, c := range p.pyenvVersions(want, exact) {
		l.add(c, "pyenv")
	}
	return l.list
}

// pyenvVersions are pyenv-installed interpreters of version want, exact
// patch first, then newest first.
func (p *preparer) pyenvVersions(want, exact string) []string {
	var roots []string
	if r := p.getenv("PYENV_ROOT"); r != "" {
		roots = append(roots, r)
	}
	if h := p.getenv("HOME"); h != "" {
		roots = append(roots, filepath.Join(h, ".pyenv"))
	}
	var out []string
	for _, r := range roots {
		entries, err := os.ReadDir(filepath.Join(r, "versions"))
		if err != nil {
			continue
		}
		var vers []string
		for _, e := range entries {
			if n := e.Name(); want == "" || n == want || strings.HasPrefix(n, want+".") {
				vers = append(vers, n)
			}
		}
		sort.Slice(vers, func(i, j int) bool {
			if (vers[i] == exact) != (vers[j] == exact) {
				return vers[i] == exact
			}
			return patchOf(vers[i]) > patchOf(vers[j])
		})
		for _, v := range vers {
			if c := filepath.Join(r, "versions", v, "bin", "python3"); isExecutable(c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// patchOf is the patch number of "3.11.7" (-1 when there is none).
func patchOf(v string) int {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 3 {
		return -1
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return -1
	}
	return n
}
