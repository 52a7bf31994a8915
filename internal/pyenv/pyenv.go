package pyenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
)

// Environment managers, spelled as MLflow's --env-manager values.
const (
	Local      = "local"
	Virtualenv = "virtualenv"
	UV         = "uv"
	Conda      = "conda"
)

// Sentinel errors callers may branch on; the errors returned wrap them
// with what was tried and how to fix it.
var (
	// ErrNoInterpreter: no interpreter was found, or none satisfies the
	// version or the modules the caller requires.
	ErrNoInterpreter = errors.New("no suitable Python interpreter")
	// ErrToolNotFound: the manager's tool (uv, conda) is not on PATH.
	ErrToolNotFound = errors.New("environment tool not found")
)

// Options say how to find or build the interpreter. The zero value (plus a
// Getenv) picks a local interpreter.
type Options struct {
	Manager      string   // "local" (default when ""), "virtualenv", "uv", "conda"
	Python       string   // explicit interpreter (--python / MLSHIP_PYTHON); local only, or the base for virtualenv and uv
	ModelDir     string   // the model directory (python_env.yaml, conda.yaml, requirements.txt, constraints.txt)
	CacheDir     string   // mlship's cache dir; environments live in CacheDir/envs/<key>
	PipFindLinks []string // extra --find-links dirs (or URLs); when set, pip runs with --no-index (offline)
	// SystemSitePackages lets a created virtualenv see the base
	// interpreter's packages, so apt's python3-numpy can serve a model
	// whose requirements cannot be downloaded.
	SystemSitePackages bool
	Require            []string            // modules the interpreter must import, e.g. {"numpy", "pandas"}
	Getenv             func(string) string // PATH, HOME, VIRTUAL_ENV...; nil = none
	Logger             *slog.Logger
}

// Env is the interpreter chosen for a model.
type Env struct {
	Python  string // absolute path of the interpreter to run
	Manager string
	Dir     string // the environment directory (empty for local)
	Version string // "3.11.2"
	Reason  string // which interpreter and why
}

// Prepare finds or builds the interpreter for o.Manager. Building an
// environment may take minutes (pip downloads); it stops when ctx is done
// and leaves nothing that a later call would mistake for a finished
// environment.
func Prepare(ctx context.Context, o Options) (*Env, error) {
	p, err := newPreparer(o)
	if err != nil {
		return nil, err
	}
	switch p.o.Manager {
	case Local:
		return p.local(ctx)
	case Virtualenv, UV:
		return p.venv(ctx)
	case Conda:
		return p.conda(ctx)
	}
	panic("unreachable: manager validated in newPreparer")
}

// preparer carries the validated options through one Prepare call.
type preparer struct {
	o      Options
	getenv func(string) string
	log    *slog.Logger
}

func newPreparer(o Options) (*preparer, error) {
	if o.Manager == "" {
		o.Manager = Local
	}
	switch o.Manager {
	case Local, Virtualenv, UV, Conda:
	default:
		return nil, fmt.Errorf("unknown environment manager %q (want local, virtualenv, uv or conda)", o.Manager)
	}
	p := &preparer{o: o, getenv: o.Getenv, log: o.Logger}
	if p.getenv == nil {
		p.getenv = func(string) string { return "" }
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("env_manager", o.Manager)
	if o.Manager == Local {
		return p, nil
	}
	// Created environments are keyed by absolute paths, and the tools run
	// in other working directories.
	if o.ModelDir == "" {
		return nil, fmt.Errorf("env manager %s: no model directory given", o.Manager)
	}
	if o.CacheDir == "" {
		return nil, fmt.Errorf("env manager %s: no cache directory given (set MLSHIP_CACHE_DIR or HOME)", o.Manager)
	}
	var err error
	if p.o.ModelDir, err = filepath.Abs(o.ModelDir); err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	}
	if p.o.CacheDir, err = filepath.Abs(o.CacheDir); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	p.o.PipFindLinks = make([]string, len(o.PipFindLinks))
	for i, l := range o.PipFindLinks {
		if !strings.Contains(l, "://") {
			if l, err = filepath.Abs(l); err != nil {
				return nil, fmt.Errorf("pip find-links %q: %w", o.PipFindLinks[i], err)
			}
		}
		p.o.PipFindLinks[i] = l
	}
	return p, nil
}

// passEnv are the variables child processes (probes, venv, pip, uv, conda)
// see. An allow-list rather than the whole environment, because the
// package only reads the environment through Getenv (which cannot be
// enumerated) and because variables such as PYTHONPATH or VIRTUAL_ENV
// would leak another environment's packages into a build.
var passEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ",
	"PYENV_ROOT", "PYENV_VERSION",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
	"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_CERT", "PIP_CLIENT_CERT",
	"PIP_CONFIG_FILE", "PIP_CACHE_DIR", "PIP_TIMEOUT", "PIP_RETRIES", "PIP_PROXY",
	"UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_CACHE_DIR",
	"UV_PYTHON_INSTALL_DIR", "UV_NATIVE_TLS", "UV_OFFLINE",
	"CONDARC", "CONDA_PKGS_DIRS", "CONDA_EXE", "MAMBA_ROOT_PREFIX", "MAMBA_EXE",
	"XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
}

// localEnv are passed on top of passEnv when probing local interpreters:
// the "local" manager runs the model in the caller's environment as it is,
// so the probe must see what the workers will see.
var localEnv = []string{"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX"}

// childEnv builds a child's environment from the allow-list, always
// non-nil so exec never falls back to the process environment.
func (p *preparer) childEnv(extra ...string) []string {
	env := []string{"PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1"}
	names := passEnv
	if p.o.Manager == Local {
		names = append(append([]string(nil), passEnv...), localEnv...)
	}
	for _, k := range names {
		if v := p.getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

// pathDirs are the PATH entries, absolute ones only: a relative entry would
// depend on the working directory of whoever runs the interpreter later.
func (p *preparer) pathDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(p.getenv("PATH")) {
		if filepath.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// lookPath finds an executable on Getenv("PATH"); exec.LookPath would read
// the process environment instead.
func (p *preparer) lookPath(name string) string {
	for _, d := range p.pathDirs() {
		if c := filepath.Join(d, name); isExecutable(c) {
			return c
		}
	}
	return ""
}
