// Package mlproject reads MLflow's MLproject file and turns an entry point
// and user parameters into the shell command MLflow would run
// (MLFLOW_COMPAT.md §6.1): typed parameters with defaults, validation,
// Python str.format templating with shlex-style quoting, and the
// conventions for projects without an MLproject file.
//
// It does no I/O beyond reading the project directory and checking that
// path parameters exist, so the caller can validate everything before a
// tracking run is created.
package mlproject

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// FileName is the usual spelling; the file is found case-insensitively.
const FileName = "MLproject"

// Parameter types MLflow knows. Any other type string is passed through
// unchanged, as MLflow does.
const (
	TypeString = "string"
	TypeFloat  = "float"
	TypeInt    = "int"
	TypePath   = "path"
	TypeURI    = "uri"
)

// Environment kinds a project declares, as MLflow's env_type.
const (
	EnvPython = "python" // python_env (or none at all)
	EnvConda  = "conda"
	EnvDocker = "docker"
)

// Parameter is one declared entry-point parameter.
type Parameter struct {
	Name       string
	Type       string // TypeString when the file does not say
	Default    string
	HasDefault bool
}

// EntryPoint is a named command template with its parameters.
type EntryPoint struct {
	Name       string
	Parameters []Parameter // in file order (path downloads use the position)
	Command    string
}

// Parameter returns the declared parameter name.
func (e *EntryPoint) Parameter(name string) (Parameter, bool) {
	for _, p := range e.Parameters {
		if p.Name == name {
			return p, true
		}
	}
	return Parameter{}, false
}

// DockerEnv is the docker_env block.
type DockerEnv struct {
	Image   string
	Volumes []string // "host:container"
	// Environment: a bare name copies the variable from mlship's
	// environment; a [name, value] pair sets it.
	Environment []EnvVar
}

// EnvVar is one docker_env environment entry. Copy means "take the value
// from the caller's environment".
type EnvVar struct {
	Name  string
	Value string
	Copy  bool
}

// Project is a parsed MLproject (or the conventions for a directory
// without one).
type Project struct {
	Dir  string // absolute project directory
	File string // the MLproject file's name as found, "" when absent
	Name string
	// EnvType is EnvPython, EnvConda or EnvDocker. EnvFile is the python_env
	// or conda file (relative to Dir, slash-separated), "" when none.
	EnvType     string
	EnvFile     string
	Docker      *DockerEnv
	EntryPoints map[string]*EntryPoint
}

// rawProject holds the top-level keys as nodes: MLflow accepts several
// shapes for some of them.
type rawProject struct {
	Name                                       string
	PythonEnv, CondaEnv, DockerEnv, Databricks *yaml.Node
	EntryPoints                                *yaml.Node
}

func decodeTop(data []byte) (*rawProject, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing MLproject: %w", err)
	}
	raw := &rawProject{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return raw, nil // empty file
	}
	top := doc.Content[0]
	if isNull(top) {
		return raw, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parsing MLproject: line %d: want a mapping at the top level", top.Line)
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "name":
			if v.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("parsing MLproject: name (line %d) must be a string", v.Line)
			}
			if !isNull(v) {
				raw.Name = v.Value
			}
		case "python_env":
			raw.PythonEnv = v
		case "conda_env":
			raw.CondaEnv = v
		case "docker_env":
			raw.DockerEnv = v
		case "databricks_spark_job":
			raw.Databricks = v
		case "entry_points":
			raw.EntryPoints = v
		}
	}
	return raw, nil
}

// Load reads the project in dir: its MLproject file when there is one
// (any case), else the conventions (python_env.yaml, then conda.yaml).
func Load(dir string) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("project directory: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("project directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("project %s is not a directory", abs)
	}
	name, err := findFile(abs)
	if err != nil {
		return nil, err
	}
	if name == "" {
		p := &Project{Dir: abs, EntryPoints: map[string]*EntryPoint{}}
		p.EnvType, p.EnvFile = defaultEnv(abs)
		return p, nil
	}
	data, err := os.ReadFile(filepath.Join(abs, name))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(abs, name), err)
	}
	p.Dir, p.File = abs, name
	if p.EnvFile != "" {
		if f := filepath.Join(abs, filepath.FromSlash(p.EnvFile)); !exists(f) {
			// MLflow's words.
			if p.EnvType == EnvConda {
				return nil, fmt.Errorf("Project specified conda environment file %s, but no such file was found.", f)
			}
			return nil, fmt.Errorf("Project specified python_env file %s, but no such file was found.", f)
		}
	} else if p.EnvType == EnvPython {
		p.EnvType, p.EnvFile = defaultEnv(abs)
	}
	return p, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// findFile returns the name of the MLproject file in dir, matched
// case-insensitively, or "" when there is none.
func findFile(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("reading project directory: %w", err)
	}
	var found []string
	for _, e := range entries {
		if strings.EqualFold(e.Name(), "mlproject") && !e.IsDir() {
			found = append(found, e.Name())
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	sort.Strings(found)
	return "", fmt.Errorf("project %s has several MLproject files: %s", dir, strings.Join(found, ", "))
}

// defaultEnv is MLflow's choice for a project that names no environment:
// python_env.yaml when present, else conda.yaml, else a Python project
// without a spec.
func defaultEnv(dir string) (string, string) {
	for _, c := range []struct{ file, typ string }{{"python_env.yaml", EnvPython}, {"conda.yaml", EnvConda}} {
		if st, err := os.Stat(filepath.Join(dir, c.file)); err == nil && st.Mode().IsRegular() {
			return c.typ, c.file
		}
	}
	return EnvPython, ""
}

// Parse reads MLproject content. Dir and File are left empty; environment
// files are not checked for existence (Load does that).
func Parse(data []byte) (*Project, error) {
	raw, err := decodeTop(data)
	if err != nil {
		return nil, err
	}
	p := &Project{Name: raw.Name, EnvType: EnvPython, EntryPoints: map[string]*EntryPoint{}}
	envs := 0
	for _, e := range []struct {
		node *yaml.Node
		typ  string
	}{{raw.PythonEnv, EnvPython}, {raw.CondaEnv, EnvConda}, {raw.DockerEnv, EnvDocker}} {
		if e.node == nil || isNull(e.node) {
			continue
		}
		envs++
		p.EnvType = e.typ
		if e.typ == EnvDocker {
			d, err := parseDocker(e.node)
			if err != nil {
				return nil, err
			}
			p.Docker = d
			continue
		}
		if e.node.Kind != yaml.ScalarNode || strings.TrimSpace(e.node.Value) == "" {
			return nil, fmt.Errorf("%s_env must be a file path", e.typ)
		}
		f, err := relFile(e.node.Value)
		if err != nil {
			return nil, fmt.Errorf("%s_env: %w", e.typ, err)
		}
		p.EnvFile = f
	}
	if envs > 1 {
		return nil, errors.New("MLproject may declare only one of python_env, conda_env and docker_env")
	}
	if raw.Databricks != nil && !isNull(raw.Databricks) {
		return nil, errors.New("databricks_spark_job projects run on Databricks only; mlship cannot run them")
	}
	if p.EnvType == EnvDocker && p.Name == "" {
		// MLflow tags the image with the project name.
		return nil, errors.New("a docker_env project must have a name (the image repository)")
	}
	if err := parseEntryPoints(raw.EntryPoints, p); err != nil {
		return nil, err
	}
	return p, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// relFile checks an environment file path: relative, inside the project.
func relFile(p string) (string, error) {
	p = strings.TrimSpace(p)
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q must be relative to the project directory", p)
	}
	c := filepath.ToSlash(filepath.Clean(filepath.FromSlash(p)))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%q leaves the project directory", p)
	}
	return c, nil
}

func parseDocker(n *yaml.Node) (*DockerEnv, error) {
	var raw struct {
		Image       string      `yaml:"image"`
		Volumes     []string    `yaml:"volumes"`
		Environment []yaml.Node `yaml:"environment"`
	}
	if err := n.Decode(&raw); err != nil {
		return nil, fmt.Errorf("docker_env: %w", err)
	}
	if strings.TrimSpace(raw.Image) == "" {
		return nil, errors.New("Project configuration (MLproject file) was invalid: Docker environment specified but no image attribute found.")
	}
	d := &DockerEnv{Image: raw.Image, Volumes: raw.Volumes}
	for _, e := range raw.Environment {
		switch {
		case e.Kind == yaml.ScalarNode && e.Value != "":
			d.Environment = append(d.Environment, EnvVar{Name: e.Value, Copy: true})
		case e.Kind == yaml.SequenceNode && len(e.Content) == 2 &&
			e.Content[0].Kind == yaml.ScalarNode && e.Content[1].Kind == yaml.ScalarNode && e.Content[0].Value != "":
			d.Environment = append(d.Environment, EnvVar{Name: e.Content[0].Value, Value: e.Content[1].Value})
		default:
			return nil, fmt.Errorf("docker_env: environment entry at line %d: want VAR or [VAR, value]", e.Line)
		}
	}
	return d, nil
}

func parseEntryPoints(n *yaml.Node, p *Project) error {
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("entry_points (line %d) must be a mapping of name to entry point", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if _, dup := p.EntryPoints[name]; dup {
			return fmt.Errorf("entry point %q is declared twice", name)
		}
		ep, err := parseEntryPoint(name, v)
		if err != nil {
			return fmt.Errorf("entry point %q: %w", name, err)
		}
		p.EntryPoints[name] = ep
	}
	return nil
}

func parseEntryPoint(name string, n *yaml.Node) (*EntryPoint, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with command and parameters", n.Line)
	}
	ep := &EntryPoint{Name: name}
	hasCommand := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "command":
			if v.Kind != yaml.ScalarNode || isNull(v) {
				return nil, fmt.Errorf("command (line %d) must be a string", v.Line)
			}
			ep.Command, hasCommand = v.Value, true
		case "parameters":
			if isNull(v) {
				continue
			}
			if v.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("parameters (line %d) must be a mapping", v.Line)
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				pn, pv := v.Content[j], v.Content[j+1]
				if _, dup := ep.Parameter(pn.Value); dup {
					return nil, fmt.Errorf("parameter %q is declared twice", pn.Value)
				}
				prm, err := parseParameter(pn.Value, pv)
				if err != nil {
					return nil, err
				}
				ep.Parameters = append(ep.Parameters, prm)
			}
		}
	}
	if !hasCommand {
		return nil, errors.New("no command")
	}
	return ep, nil
}

// parseParameter reads `name: type` or `name: {type: t, default: v}`.
func parseParameter(name string, n *yaml.Node) (Parameter, error) {
	if name == "" {
		return Parameter{}, errors.New("a parameter has an empty name")
	}
	p := Parameter{Name: name, Type: TypeString}
	switch n.Kind {
	case yaml.ScalarNode:
		if !isNull(n) && n.Value != "" {
			p.Type = n.Value
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "type":
				if v.Kind != yaml.ScalarNode {
					return p, fmt.Errorf("parameter %q: type must be a string", name)
				}
				if !isNull(v) && v.Value != "" {
					p.Type = v.Value
				}
			case "default":
				if v.Kind != yaml.ScalarNode {
					return p, fmt.Errorf("parameter %q: default (line %d) must be a scalar", name, v.Line)
				}
				if isNull(v) {
					continue // `default: null` is no default, as in MLflow
				}
				p.Default, p.HasDefault = pyStr(v), true
			}
		}
	default:
		return p, fmt.Errorf("parameter %q (line %d): want a type or {type, default}", name, n.Line)
	}
	return p, nil
}

// EntryPoint returns the named entry point, or MLflow's convention for
// a script name: `.py` runs with python, `.sh` with bash. The script must
// exist in the project.
func (p *Project) EntryPoint(name string) (*EntryPoint, error) {
	if ep, ok := p.EntryPoints[name]; ok {
		return ep, nil
	}
	ext := strings.ToLower(filepath.Ext(name))
	var interp string
	switch ext {
	case ".py":
		interp = "python"
	case ".sh":
		interp = "bash"
	default:
		// MLflow's words, with its Python list reprs.
		names := make([]string, 0, len(p.EntryPoints))
		for n := range p.EntryPoints {
			names = append(names, "'"+n+"'")
		}
		sort.Strings(names)
		return nil, fmt.Errorf("Could not find %s among entry points [%s] or interpret %s as a runnable script. Supported script file extensions: ['.py', '.sh']",
			name, strings.Join(names, ", "), name)
	}
	rel, err := relFile(name)
	if err != nil {
		return nil, fmt.Errorf("entry point %s: %w", name, err)
	}
	if p.Dir != "" {
		if st, err := os.Stat(filepath.Join(p.Dir, filepath.FromSlash(rel))); err != nil || st.IsDir() {
			if err == nil {
				err = fs.ErrInvalid
			}
			return nil, fmt.Errorf("entry point %s: no such script in %s: %w", name, p.Dir, err)
		}
	}
	return &EntryPoint{Name: name, Command: interp + " " + Quote(name)}, nil
}
