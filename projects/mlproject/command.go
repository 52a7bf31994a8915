package mlproject

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// KV is one parameter value, in the order the user or the file gave it.
type KV struct {
	Key, Value string
}

// ResolveOptions say how path parameters are made concrete.
type ResolveOptions struct {
	// WorkDir is the caller's working directory: relative path values are
	// resolved against it first, as MLflow does (os.path.abspath), then
	// against the project directory, so a default naming a file shipped
	// with the project works from anywhere.
	WorkDir string
	// Fetch copies a non-local path value (http://..., s3://...) into dir
	// and returns the local path. Nil: such values are an error.
	Fetch func(ctx context.Context, uri, dir string) (string, error)
	// StorageDir receives fetched path parameters, in param_<position>/
	// as MLflow lays them out.
	// Each Resolve that fetches something makes a new directory in it
	// (MLflow's tempfile.mkdtemp(dir=storage_dir)), so several invocations
	// sharing one storage directory never overwrite each other's files.
	StorageDir string
}

// Invocation is an entry point with every parameter made concrete: what
// runs, and what is logged on the run.
type Invocation struct {
	EntryPoint string
	// Params are the declared parameters in declaration order with the
	// values MLflow logs on the run: the user's value or the default, path
	// parameters as given (MLflow logs "the actual path, not the
	// downloaded local path").
	Params []KV
	// Values are Params as the command gets them: path parameters local
	// and absolute (fetched ones in the storage directory).
	Values  []KV
	Extra   []KV // user parameters the entry point does not declare, in the user's order
	Command string
}

// AllParams is Params then Extra: what MLflow logs on the run.
func (inv *Invocation) AllParams() []KV {
	return append(append([]KV(nil), inv.Params...), inv.Extra...)
}

// ParamError is a parameter problem found before anything runs.
type ParamError struct {
	Param string // "" for errors about several parameters
	Msg   string
}

func (e *ParamError) Error() string { return e.Msg }

// Resolve validates user against the entry point and renders the command.
// It checks every parameter before touching anything: a missing required
// parameter, a float or int that does not parse, a uri without a scheme,
// a local path that does not exist. dir is the project directory.
func (e *EntryPoint) Resolve(ctx context.Context, dir string, user []KV, o ResolveOptions) (*Invocation, error) {
	given := map[string]string{}
	for _, kv := range user {
		if _, dup := given[kv.Key]; dup {
			return nil, &ParamError{kv.Key, fmt.Sprintf("Repeated parameter: '%s'", kv.Key)}
		}
		if kv.Key == "" {
			return nil, &ParamError{"", "a parameter has an empty name"}
		}
		if strings.ContainsRune(kv.Key, 0) || strings.ContainsRune(kv.Value, 0) {
			return nil, &ParamError{kv.Key, fmt.Sprintf("parameter %q contains a NUL byte, which no command line can carry", kv.Key)}
		}
		given[kv.Key] = kv.Value
	}
	var missing []string
	for _, p := range e.Parameters {
		if _, ok := given[p.Name]; !ok && !p.HasDefault {
			missing = append(missing, "'"+p.Name+"'")
		}
	}
	if len(missing) > 0 {
		return nil, &ParamError{"", "No value given for missing parameters: " + strings.Join(missing, ", ")}
	}
	inv := &Invocation{EntryPoint: e.Name}
	// Check types first, so a bad value fails before any path is fetched.
	for _, p := range e.Parameters {
		v, ok := given[p.Name]
		if !ok {
			v = p.Default
		}
		if err := checkValue(p, v); err != nil {
			return nil, err
		}
		inv.Params = append(inv.Params, KV{p.Name, v})
	}
	inv.Values = append([]KV(nil), inv.Params...)
	storage := &storageDir{parent: o.StorageDir}
	for i, p := range e.Parameters {
		if p.Type != TypePath {
			continue
		}
		v, err := resolvePath(ctx, p, inv.Params[i].Value, i, dir, o, storage)
		if err != nil {
			return nil, err
		}
		inv.Values[i].Value = v
	}
	for _, kv := range user {
		if _, declared := e.Parameter(kv.Key); !declared {
			inv.Extra = append(inv.Extra, kv)
		}
	}
	values := map[string]string{}
	for _, kv := range inv.Values {
		values[kv.Key] = Quote(kv.Value)
	}
	cmd, err := Format(e.Command, values)
	if err != nil {
		return nil, fmt.Errorf("entry point %s: command %q: %w", e.Name, e.Command, err)
	}
	var b strings.Builder
	b.WriteString(cmd)
	for _, kv := range inv.Extra {
		b.WriteString(" " + Quote("--"+kv.Key) + " " + Quote(kv.Value))
	}
	inv.Command = b.String()
	return inv, nil
}

// What Python's float() and int() accept (after stripping blanks): the
// script reading the value is most likely Python, so a value passes
// exactly when Python would take it ("1_000", "Infinity" yes; "0x1p3",
// "1__0" no).
var (
	pyFloat = regexp.MustCompile(`^[+-]?(?:(?:(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\.?)(?:[eE][+-]?[0-9](?:_?[0-9])*)?|(?i:inf|infinity|nan))$`)
	pyInt   = regexp.MustCompile(`^[+-]?[0-9](?:_?[0-9])*$`)
)

// checkValue validates a value against its declared type. MLflow checks
// only uri and path; mlship also refuses floats and ints that would make
// the script fail later, in the words MLflow uses for uri.
func checkValue(p Parameter, v string) error {
	switch p.Type {
	case TypeFloat:
		if !pyFloat.MatchString(strings.TrimSpace(v)) {
			return &ParamError{p.Name, fmt.Sprintf("Expected float for parameter %s but got %s", p.Name, v)}
		}
	case TypeInt:
		if !pyInt.MatchString(strings.TrimSpace(v)) {
			return &ParamError{p.Name, fmt.Sprintf("Expected int for parameter %s but got %s", p.Name, v)}
		}
	case TypeURI:
		if URIScheme(v) == "" {
			return &ParamError{p.Name, fmt.Sprintf("Expected URI for parameter %s but got %s", p.Name, v)}
		}
	case TypePath:
		if strings.TrimSpace(v) == "" {
			return &ParamError{p.Name, fmt.Sprintf("parameter %s: expected a path but got an empty value", p.Name)}
		}
	}
	return nil
}

func isRangeErr(err error) bool {
	var ne *strconv.NumError
	return errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange)
}

// URIScheme is the scheme of v as Python's urllib.parse.urlparse finds it
// (lower-cased), "" when v has none.
func URIScheme(v string) string {
	i := strings.IndexByte(v, ':')
	if i <= 0 {
		return ""
	}
	if c := v[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		return ""
	}
	for _, c := range []byte(v[:i]) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return ""
		}
	}
	return strings.ToLower(v[:i])
}

// resolvePath makes a path parameter absolute (checking that it exists),
// or fetches a remote one into the storage directory.
// storageDir is the directory one Resolve fetches into, made on first use.
type storageDir struct {
	parent, dir string
}

func (s *storageDir) get() (string, error) {
	if s.dir == "" {
		d, err := os.MkdirTemp(s.parent, "")
		if err != nil {
			return "", err
		}
		s.dir = d
	}
	return s.dir, nil
}

func resolvePath(ctx context.Context, p Parameter, v string, pos int, dir string, o ResolveOptions, storage *storageDir) (string, error) {
	local := v
	switch s := URIScheme(v); {
	case s == "file":
		local = strings.TrimPrefix(v[len("file:"):], "//")
		if !strings.HasPrefix(local, "/") {
			// file://host/path: only the local host is local.
			host, rest, _ := strings.Cut(local, "/")
			if host != "localhost" {
				return "", &ParamError{p.Name, fmt.Sprintf("parameter %s: %s is not a local file URI", p.Name, v)}
			}
			local = "/" + rest
		}
	case len(s) > 1:
		if o.Fetch == nil {
			return "", &ParamError{p.Name, fmt.Sprintf("parameter %s: cannot fetch %s (only local paths are supported here)", p.Name, v)}
		}
		base, err := storage.get()
		if err != nil {
			return "", fmt.Errorf("parameter %s: storage directory: %w", p.Name, err)
		}
		sub := filepath.Join(base, fmt.Sprintf("param_%d", pos))
		if err := os.Mkdir(sub, 0o755); err != nil {
			return "", fmt.Errorf("parameter %s: %w", p.Name, err)
		}
		got, err := o.Fetch(ctx, v, sub)
		if err != nil {
			return "", fmt.Errorf("parameter %s: fetching %s: %w", p.Name, v, err)
		}
		return got, nil
	}
	candidates := []string{local}
	if !filepath.IsAbs(local) {
		wd := o.WorkDir
		if wd == "" {
			wd, _ = os.Getwd()
		}
		candidates = []string{filepath.Join(wd, local)}
		if dir != "" {
			candidates = append(candidates, filepath.Join(dir, local))
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return filepath.Clean(c), nil
		}
	}
	return "", &ParamError{p.Name, fmt.Sprintf("Got value %s for parameter %s, but no such file or directory was found.", v, p.Name)}
}

// Quote is Python's shlex.quote: the value as one shell word, unchanged
// when it holds only safe characters, else in single quotes with each
// single quote spelled '"'"'.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_@%+=:,./-", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// Format is the subset of Python's str.format that MLproject commands use:
// {name} is replaced by values[name], {{ and }} are literal braces.
// Attribute and index access, conversions and format specs are refused
// rather than half-implemented.
func Format(template string, values map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(template); i++ {
		c := template[i]
		switch c {
		case '{':
			if i+1 < len(template) && template[i+1] == '{' {
				b.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(template[i+1:], '}')
			if end < 0 {
				return "", errors.New("single '{' encountered in format string")
			}
			field := template[i+1 : i+1+end]
			if field == "" {
				return "", errors.New("empty replacement field {}: name a parameter, as in {alpha}")
			}
			if strings.ContainsAny(field, ".[!:{") {
				return "", fmt.Errorf("replacement field {%s}: only {name} is supported (no attributes, indexes, conversions or format specs)", field)
			}
			v, ok := values[field]
			if !ok {
				return "", fmt.Errorf("{%s} names no parameter of the entry point", field)
			}
			b.WriteString(v)
			i += end + 1
		case '}':
			if i+1 < len(template) && template[i+1] == '}' {
				b.WriteByte('}')
				i++
				continue
			}
			return "", errors.New("single '}' encountered in format string")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// Split breaks a command line into words as a POSIX shell does before
// expansion: blanks separate words, single quotes keep everything, double
// quotes keep everything but \\, \", \$, \` and a backslash-newline, and a
// backslash outside quotes escapes the next character. Expansions ($VAR,
// globs) and operators (&&, |) are left as literal text.
func Split(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				d := s[i]
				if d == '"' {
					closed = true
					break
				}
				if d == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`\n", s[i+1]) >= 0 {
					i++
					if s[i] != '\n' {
						cur.WriteByte(s[i])
					}
					continue
				}
				cur.WriteByte(d)
			}
			if !closed {
				return nil, errors.New("unterminated double quote")
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			if s[i] == '\n' {
				continue // line continuation
			}
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
