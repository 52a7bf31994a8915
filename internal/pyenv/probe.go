package pyenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// probeTimeout bounds one interpreter probe. Importing pandas takes about a
// second on a warm machine; a cold disk or a loaded CI runner is slower.
const probeTimeout = 30 * time.Second

// probeScript reports the interpreter's identity and which of the modules
// named in argv fail to import, all in one process start. It avoids
// f-strings and print() features so that even Python 2 answers (and is
// then refused with a clear message rather than a syntax error).
const probeScript = `import sys, json
missing = []
for name in sys.argv[1:]:
    try:
        __import__(name)
    except BaseException as e:
        missing.append([name, "%s: %s" % (type(e).__name__, e)])
sys.stdout.write("\n" + json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % tuple(sys.version_info[:3]), "missing": missing}) + "\n")
`

// interp is what a probe learnt about one interpreter.
type interp struct {
	path    string      // the path probed
	exe     string      // sys.executable, absolute
	version string      // "3.11.2"
	missing [][2]string // modules that failed to import, with the error
}

// probe runs path once, importing modules. An error means the interpreter
// does not run at all (or is not Python 3).
func (p *preparer) probe(ctx context.Context, path string, modules []string) (*interp, error) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	argv := append([]string{path, "-c", probeScript}, modules...)
	out, tail, err := p.output(pctx, command{name: "probe", argv: argv, env: p.childEnv()})
	if err != nil {
		if ctx.Err() == nil && pctx.Err() != nil {
			// One hung interpreter is a reason to skip it, not to stop.
			return nil, fmt.Errorf("no answer within %v", probeTimeout)
		}
		if tail != "" {
			err = fmt.Errorf("%w: %s", err, lastLine(tail))
		}
		return nil, err
	}
	// Imports may print to stdout: the report is the last line.
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var rep struct {
		Executable string     `json:"executable"`
		Version    string     `json:"version"`
		Missing    [][]string `json:"missing"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &rep); err != nil {
		return nil, fmt.Errorf("not a Python interpreter (unexpected output %q)", truncate(string(out), 200))
	}
	if major, _ := splitVersion(rep.Version); major < 3 {
		return nil, fmt.Errorf("Python %s is not supported (Python 3 is required)", rep.Version)
	}
	in := &interp{path: path, exe: rep.Executable, version: rep.Version}
	if !filepath.IsAbs(in.exe) || !isExecutable(in.exe) {
		in.exe = path
	}
	for _, m := range rep.Missing {
		if len(m) == 2 {
			in.missing = append(in.missing, [2]string{m[0], m[1]})
		}
	}
	return in, nil
}

// missingText says which required modules an interpreter lacks.
func (in *interp) missingText() string {
	var parts []string
	for _, m := range in.missing {
		if strings.HasPrefix(m[1], "ModuleNotFoundError") || strings.HasPrefix(m[1], "ImportError: No module named") {
			parts = append(parts, "no module "+m[0])
		} else {
			// numpy built for another ABI, a broken install: the
			// message is what the user needs.
			parts = append(parts, "import "+m[0]+" failed ("+truncate(m[1], 200)+")")
		}
	}
	return strings.Join(parts, ", ")
}

func (in *interp) missingNames() []string {
	var names []string
	for _, m := range in.missing {
		names = append(names, m[0])
	}
	return names
}

// candidate is an interpreter path worth probing and why it is one.
type candidate struct {
	path   string
	origin string // how it was found, phrased for Env.Reason: "first python3 on PATH"
}

// candidateList collects candidates without duplicates. Two paths are the
// same when their directories resolve to the same place (/bin is
// /usr/bin on merged-usr systems); the file itself is not resolved,
// because a virtualenv's bin/python is a symlink to its base interpreter
// yet behaves differently.
type candidateList struct {
	list []candidate
	seen map[string]bool
}

func (l *candidateList) add(path, origin string) {
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	id := path
	if d, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		id = filepath.Join(d, filepath.Base(path))
	}
	if l.seen[id] {
		return
	}
	l.seen[id] = true
	l.list = append(l.list, candidate{path, origin})
}

// attempt records why a candidate was not chosen, for Reason and errors.
type attempt struct {
	path, why string
}

func formatAttempts(as []attempt) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.path + " (" + a.why + ")"
	}
	return strings.Join(parts, "; ")
}

// resolveExplicit turns --python into an absolute path: a bare name is
// looked up on PATH, a relative path is taken from the working directory.
func (p *preparer) resolveExplicit() (string, error) {
	py := p.o.Python
	if !strings.ContainsRune(py, filepath.Separator) {
		found := p.lookPath(py)
		if found == "" {
			return "", fmt.Errorf("%w: %q (--python / MLSHIP_PYTHON) not found on PATH", ErrNoInterpreter, py)
		}
		return found, nil
	}
	abs, err := filepath.Abs(py)
	if err != nil {
		return "", fmt.Errorf("python interpreter %q: %w", py, err)
	}
	if !isExecutable(abs) {
		return "", fmt.Errorf("%w: %s (--python / MLSHIP_PYTHON) does not exist or is not executable", ErrNoInterpreter, abs)
	}
	return abs, nil
}

// splitVersion parses "3.11.2" (or "3.11") into major and minor; zeros
// when it cannot.
func splitVersion(v string) (major, minor int) {
	parts := strings.SplitN(strings.TrimSpace(v), ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	major, _ = strconv.Atoi(parts[0])
	minor, _ = strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major, minor
}

// majorMinor is "3.11" for "3.11.2", "" when v does not parse.
func majorMinor(v string) string {
	major, minor := splitVersion(v)
	if major == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", major, minor)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return truncate(s, 300)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
