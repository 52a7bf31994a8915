package pyenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/mlmodel"
)

// Default spec file names, used when MLmodel does not name them.
const (
	pythonEnvFile    = "python_env.yaml"
	condaFile        = "conda.yaml"
	requirementsFile = "requirements.txt"
)

// pySpec is a virtualenv's recipe, as MLflow's _PythonEnv holds it.
type pySpec struct {
	Python    string   // "3.11.2" (or "3.11"); "" when the model does not say
	BuildDeps []string // pip requirement specifiers installed first
	Deps      []string // requirement lines, typically "-r requirements.txt"
	Source    string   // which file(s) it came from, for messages
}

// modelFiles are the spec file names the model's MLmodel names (its
// python_function env map), and the python_version it records.
type modelFiles struct {
	virtualenv, conda string
	pythonVersion     string
}

// readModelFiles reads MLmodel when the directory has one. A directory
// without MLmodel (a bare environment spec) gets the default names.
func readModelFiles(dir string) (modelFiles, error) {
	mf := modelFiles{virtualenv: pythonEnvFile, conda: condaFile}
	if _, err := os.Stat(filepath.Join(dir, mlmodel.FileName)); errors.Is(err, fs.ErrNotExist) {
		return mf, nil
	}
	m, err := mlmodel.Load(dir)
	if err != nil {
		return mf, fmt.Errorf("reading model environment: %w", err)
	}
	pf, ok, err := m.PyFunc()
	if err != nil || !ok {
		return mf, err
	}
	mf.pythonVersion = pf.PythonVersion
	for manager, dst := range map[string]*string{"virtualenv": &mf.virtualenv, "conda": &mf.conda} {
		if name := pf.Env[manager]; name != "" {
			// Refuse spec paths that leave the model directory.
			if _, err := m.Path(name); err != nil {
				return mf, fmt.Errorf("python_function env %s: %w", manager, err)
			}
			*dst = filepath.Clean(filepath.FromSlash(name))
		}
	}
	return mf, nil
}

// readPySpec builds the virtualenv recipe as MLflow's _get_python_env does:
// python_env.yaml when present; otherwise (models from MLflow < 1.26) the
// python version and pip pin from conda.yaml with requirements.txt, or the
// conda file's pip section when there is no requirements.txt. A model with
// neither file but a requirements.txt falls back to MLmodel's
// python_version, which MLflow does not do.
func readPySpec(dir string) (*pySpec, error) {
	mf, err := readModelFiles(dir)
	if err != nil {
		return nil, err
	}
	pePath := filepath.Join(dir, mf.virtualenv)
	if data, err := os.ReadFile(pePath); err == nil {
		return parsePythonEnv(data, mf.virtualenv)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", pePath, err)
	}
	hasReqs := fileExists(filepath.Join(dir, requirementsFile))
	cPath := filepath.Join(dir, mf.conda)
	if data, err := os.ReadFile(cPath); err == nil {
		cs, err := parseCondaDeps(data, mf.conda)
		if err != nil {
			return nil, err
		}
		s := &pySpec{Python: cs.python, BuildDeps: cs.build, Deps: cs.pip, Source: mf.conda}
		if hasReqs {
			s.Deps, s.Source = []string{"-r " + requirementsFile}, mf.conda+" and "+requirementsFile
		}
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", cPath, err)
	}
	if hasReqs {
		return &pySpec{Python: mf.pythonVersion, Deps: []string{"-r " + requirementsFile},
			Source: requirementsFile + " and MLmodel python_version"}, nil
	}
	return nil, fmt.Errorf("model %s has no %s, %s or %s to build an environment from; use --env-manager local",
		dir, mf.virtualenv, mf.conda, requirementsFile)
}

// parsePythonEnv reads python_env.yaml. Strings, not numbers: `python:
// 3.10` must stay "3.10".
func parsePythonEnv(data []byte, name string) (*pySpec, error) {
	var raw struct {
		Python    string   `yaml:"python"`
		BuildDeps []string `yaml:"build_dependencies"`
		Deps      []string `yaml:"dependencies"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if strings.TrimSpace(raw.Python) == "" {
		return nil, fmt.Errorf("reading %s: no python version (want `python: X.Y.Z`)", name)
	}
	return &pySpec{Python: strings.TrimSpace(raw.Python), BuildDeps: raw.BuildDeps, Deps: raw.Deps, Source: name}, nil
}

// condaDepRe is MLflow's _CONDA_DEPENDENCY_REGEX: the conda dependencies a
// virtualenv can honour are python itself and pip's own tooling.
var condaDepRe = regexp.MustCompile(`^(python|pip|setuptools|wheel)(<|>|<=|>=|=|==|!=)?([\d.]+)?$`)

type condaDeps struct {
	python       string
	pythonPinned bool     // "=" or "==", not a lower or upper bound
	build        []string // pip, setuptools, wheel pins, in pip syntax
	pip          []string // the {pip: [...]} section
}

// parseCondaDeps reads what a virtualenv can use from conda.yaml, as
// MLflow's get_dependencies_from_conda_yaml does; other conda packages are
// dropped (MLflow warns about them too).
func parseCondaDeps(data []byte, name string) (*condaDeps, error) {
	var raw struct {
		Dependencies []any `yaml:"dependencies"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	cd := &condaDeps{}
	for _, d := range raw.Dependencies {
		switch d := d.(type) {
		case string:
			m := condaDepRe.FindStringSubmatch(strings.ReplaceAll(d, " ", ""))
			if m == nil {
				continue
			}
			pkg, op, ver := m[1], m[2], m[3]
			if pkg == "python" {
				if cd.python == "" {
					if op == "" || op == "<" || op == ">" || op == "!=" {
						return nil, fmt.Errorf("reading %s: python must be pinned (python=X.Y.Z), not %q", name, d)
					}
					cd.python, cd.pythonPinned = ver, op == "=" || op == "=="
				}
				continue
			}
			if op == "=" {
				op = "=="
			}
			cd.build = append(cd.build, pkg+op+ver)
		case map[string]any:
			pip, ok := d["pip"].([]any)
			if !ok {
				return nil, fmt.Errorf("reading %s: dependency %v: want a string or {pip: [...]}", name, d)
			}
			for _, r := range pip {
				s, ok := r.(string)
				if !ok {
					return nil, fmt.Errorf("reading %s: pip requirement %v is not a string", name, r)
				}
				cd.pip = append(cd.pip, s)
			}
		default:
			return nil, fmt.Errorf("reading %s: dependency %v: want a string or {pip: [...]}", name, d)
		}
	}
	return cd, nil
}

// maxIncludeDepth bounds -r/-c nesting; pip itself recurses until a cycle
// overflows, and a key must not.
const maxIncludeDepth = 10

// expandRequirements renders requirement lines with every file they include
// through -r/-c (relative to the including file, as pip resolves them)
// inlined, so that an environment's key changes whenever any file pip will
// read changes. Remote includes (URLs) are kept as written.
func expandRequirements(baseDir string, lines []string) (string, error) {
	var b strings.Builder
	if err := expandInto(&b, baseDir, lines, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

func expandInto(b *strings.Builder, baseDir string, lines []string, depth int) error {
	for _, line := range lines {
		b.WriteString(line)
		b.WriteByte('\n')
		ref, ok := includeRef(line)
		if !ok || strings.Contains(ref, "://") {
			continue
		}
		if depth >= maxIncludeDepth {
			return fmt.Errorf("requirements nest deeper than %d levels at %q (an include cycle?)", maxIncludeDepth, line)
		}
		path := ref
		if !filepath.IsAbs(path) {
			path = filepath.Join(baseDir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("requirements include %q: %w", line, err)
		}
		fmt.Fprintf(b, "# begin %s\n", ref)
		if err := expandInto(b, filepath.Dir(path), logicalLines(string(data)), depth+1); err != nil {
			return err
		}
		fmt.Fprintf(b, "# end %s\n", ref)
	}
	return nil
}

// logicalLines joins pip's backslash continuations.
func logicalLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\"))
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// includeRef returns the file of a -r/--requirement/-c/--constraint line.
func includeRef(line string) (string, bool) {
	line = stripComment(line)
	for _, opt := range []string{"--requirement", "--constraint", "-r", "-c"} {
		rest, ok := strings.CutPrefix(line, opt)
		if !ok {
			continue
		}
		if strings.HasPrefix(opt, "--") {
			if r, ok := strings.CutPrefix(rest, "="); ok {
				rest = r
			} else if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				continue // --requirementsfoo is not this option
			}
		}
		if rest = strings.TrimSpace(rest); rest != "" {
			return rest, true
		}
	}
	return "", false
}

// stripComment removes a # comment: at the line start, or after
// whitespace (pip's rule, so URLs with fragments survive).
func stripComment(line string) string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "#") {
		return ""
	}
	for i := 1; i < len(line); i++ {
		if line[i] == '#' && (line[i-1] == ' ' || line[i-1] == '\t') {
			return strings.TrimSpace(line[:i])
		}
	}
	return line
}

// requirementArgs turns requirement lines into pip arguments: an option
// line ("-r requirements.txt", "--extra-index-url URL") splits into
// words, anything else is one requirement specifier (which may hold
// spaces, as in `pkg ; python_version < "3.12"`).
func requirementArgs(lines []string) []string {
	var args []string
	for _, l := range lines {
		l = stripComment(l)
		switch {
		case l == "":
		case strings.HasPrefix(l, "-"):
			args = append(args, strings.Fields(l)...)
		default:
			args = append(args, l)
		}
	}
	return args
}

// hashKey is an environment's cache key: the truncated SHA-256 of every
// input that determines what the environment contains. Each part is
// length-prefixed so no two different part lists hash alike.
func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
