package mlproject

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func loadTestdata(t *testing.T, name string) *Project {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseFull(t *testing.T) {
	p := loadTestdata(t, "full.MLproject")
	if p.Name != "tutorial" || p.EnvType != EnvPython || p.EnvFile != "python_env.yaml" {
		t.Errorf("project = %+v", p)
	}
	if len(p.EntryPoints) != 3 {
		t.Fatalf("entry points: %v", p.EntryPoints)
	}
	main := p.EntryPoints["main"]
	want := []Parameter{
		{"alpha", TypeFloat, "0.5", true},
		{"l1_ratio", TypeFloat, "0.1", true},
		{"epochs", TypeInt, "10", true},
		{"data_file", TypePath, "", false},
		{"name", TypeString, "", false},
		{"tracking", TypeURI, "http://127.0.0.1:5000", true},
		{"flag", TypeString, "True", true}, // PyYAML reads yes as True; str() prints True
		{"kind", "custom", "{raw}", true},
	}
	if !reflect.DeepEqual(main.Parameters, want) {
		t.Errorf("parameters:\n got %+v\nwant %+v", main.Parameters, want)
	}
	if p.EntryPoints["bare"].Command != "echo hi" || len(p.EntryPoints["bare"].Parameters) != 0 {
		t.Errorf("bare = %+v", p.EntryPoints["bare"])
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"two envs", "python_env: a.yaml\nconda_env: b.yaml\n", "only one of"},
		{"docker without name", "docker_env: {image: python:3.11}\n", "must have a name"},
		{"docker without image", "name: x\ndocker_env: {volumes: [a:b]}\n", "Project configuration (MLproject file) was invalid: Docker environment specified but no image attribute found."},
		{"docker bad env", "name: x\ndocker_env: {image: i, environment: [[a, b, c]]}\n", "want VAR or [VAR, value]"},
		{"no command", "entry_points:\n  main:\n    parameters: {a: int}\n", `entry point "main": no command`},
		{"entry point scalar", "entry_points:\n  main: python x.py\n", "want a mapping"},
		{"entry points list", "entry_points: [a, b]\n", "must be a mapping"},
		{"env outside", "python_env: ../env.yaml\n", "leaves the project"},
		{"env absolute", "conda_env: /etc/conda.yaml\n", "must be relative"},
		{"param list", "entry_points:\n  main:\n    parameters: {a: [1, 2]}\n    command: x\n", "want a type or {type, default}"},
		{"default map", "entry_points:\n  main:\n    parameters: {a: {default: {b: 1}}}\n    command: x\n", "must be a scalar"},
		{"databricks", "databricks_spark_job: {python_file: x.py}\n", "Databricks only"},
		{"not yaml", "entry_points: [\n", "parsing MLproject"},
		{"duplicate param", "entry_points:\n  main:\n    parameters: {a: int, a: float}\n    command: x\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadConventions(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "train.py", "print(1)\n")
	write(t, dir, "run.sh", "echo 1\n")
	write(t, dir, "conda.yaml", "dependencies: [python=3.11]\n")
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.File != "" || p.EnvType != EnvConda || p.EnvFile != "conda.yaml" {
		t.Errorf("project without MLproject = %+v", p)
	}
	for _, tc := range []struct{ ep, cmd string }{{"train.py", "python train.py"}, {"run.sh", "bash run.sh"}} {
		ep, err := p.EntryPoint(tc.ep)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := ep.Resolve(context.Background(), dir, []KV{{"lr", "0.1"}, {"name", "a b"}}, ResolveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := tc.cmd + " --lr 0.1 --name 'a b'"; inv.Command != want {
			t.Errorf("%s: command %q, want %q", tc.ep, inv.Command, want)
		}
	}
	for _, ep := range []string{"main", "missing.py", "notes.txt", "../x.py"} {
		if _, err := p.EntryPoint(ep); err == nil {
			t.Errorf("EntryPoint(%q) succeeded", ep)
		}
	}
	// The file name is matched case-insensitively; python_env.yaml wins
	// over conda.yaml when the file names no environment.
	write(t, dir, "mlProject", "name: lower\nentry_points:\n  main:\n    command: echo\n")
	write(t, dir, "python_env.yaml", "python: '3.11'\n")
	p, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.File != "mlProject" || p.Name != "lower" || p.EnvType != EnvPython || p.EnvFile != "python_env.yaml" {
		t.Errorf("project = %+v", p)
	}
	write(t, dir, "MLPROJECT", "name: upper\n")
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "several MLproject files") {
		t.Errorf("two MLproject files: %v", err)
	}
	dir2 := t.TempDir()
	write(t, dir2, "MLproject", "conda_env: env/conda.yaml\n")
	if _, err := Load(dir2); err == nil || err.Error() != "Project specified conda environment file "+filepath.Join(dir2, "env", "conda.yaml")+", but no such file was found." {
		t.Errorf("missing conda file: %v", err)
	}
	write(t, dir2, "MLproject", "python_env: py.yaml\n")
	if _, err := Load(dir2); err == nil || err.Error() != "Project specified python_env file "+filepath.Join(dir2, "py.yaml")+", but no such file was found." {
		t.Errorf("missing python_env file: %v", err)
	}
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	p := loadTestdata(t, "full.MLproject")
	dir := t.TempDir()
	write(t, dir, "data/train.csv", "a,b\n")
	wd := t.TempDir()
	write(t, wd, "local.csv", "x\n")
	ctx := context.Background()
	o := ResolveOptions{WorkDir: wd}
	main := p.EntryPoints["main"]

	inv, err := main.Resolve(ctx, dir, []KV{{"data_file", "data/train.csv"}, {"name", "it's a test"}, {"extra", "$HOME; rm -rf /"}, {"alpha", "1e-3"}}, o)
	if err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "data", "train.csv")
	want := "python train.py --alpha 1e-3 --l1 0.1 --epochs 10 --data " + abs +
		` --name 'it'"'"'s a test' --uri http://127.0.0.1:5000 --flag True --kind '{raw}' --braces {x} --extra '$HOME; rm -rf /'`
	if inv.Command != want {
		t.Errorf("command\n got %s\nwant %s", inv.Command, want)
	}
	// Logged as MLflow logs them: the path as given, not resolved.
	wantParams := []KV{{"alpha", "1e-3"}, {"l1_ratio", "0.1"}, {"epochs", "10"}, {"data_file", "data/train.csv"}, {"name", "it's a test"},
		{"tracking", "http://127.0.0.1:5000"}, {"flag", "True"}, {"kind", "{raw}"}, {"extra", "$HOME; rm -rf /"}}
	if !reflect.DeepEqual(inv.AllParams(), wantParams) {
		t.Errorf("params\n got %v\nwant %v", inv.AllParams(), wantParams)
	}
	if inv.Values[3] != (KV{"data_file", abs}) || inv.Values[0] != inv.Params[0] {
		t.Errorf("command values %v", inv.Values)
	}
	// The working directory wins over the project directory.
	inv, err = main.Resolve(ctx, dir, []KV{{"data_file", "local.csv"}, {"name", "n"}}, o)
	if err != nil || inv.Values[3].Value != filepath.Join(wd, "local.csv") || inv.Params[3].Value != "local.csv" {
		t.Errorf("relative to the working directory: %v %v", inv, err)
	}
	inv, err = main.Resolve(ctx, dir, []KV{{"data_file", "file://" + abs}, {"name", "n"}}, o)
	if err != nil || inv.Values[3].Value != abs {
		t.Errorf("file URI: %v %v", inv, err)
	}

	for _, tc := range []struct {
		name string
		user []KV
		want string
	}{
		{"missing", nil, "No value given for missing parameters: 'data_file', 'name'"},
		{"float", []KV{{"data_file", abs}, {"name", "n"}, {"alpha", "abc"}}, "Expected float for parameter alpha but got abc"},
		{"hex float", []KV{{"data_file", abs}, {"name", "n"}, {"alpha", "0x1p3"}}, "Expected float for parameter alpha but got 0x1p3"},
		{"int", []KV{{"data_file", abs}, {"name", "n"}, {"epochs", "1.5"}}, "Expected int for parameter epochs but got 1.5"},
		{"uri", []KV{{"data_file", abs}, {"name", "n"}, {"tracking", "/just/a/path"}}, "Expected URI for parameter tracking but got /just/a/path"},
		{"path", []KV{{"data_file", "nope.csv"}, {"name", "n"}}, "Got value nope.csv for parameter data_file, but no such file or directory was found."},
		{"remote path", []KV{{"data_file", "s3://b/k"}, {"name", "n"}}, "cannot fetch s3://b/k"},
		{"repeated", []KV{{"name", "a"}, {"name", "b"}}, "Repeated parameter: 'name'"},
		{"nul", []KV{{"name", "a\x00b"}}, "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := main.Resolve(ctx, dir, tc.user, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Resolve = %v, want %q", err, tc.want)
			}
		})
	}

	// Big ints and float edge cases are values Python accepts too.
	for _, v := range []string{"123456789012345678901234567890", "-3", "+4", "1_000", " 7 "} {
		if _, err := main.Resolve(ctx, dir, []KV{{"data_file", abs}, {"name", "n"}, {"epochs", v}}, o); err != nil {
			t.Errorf("int %s: %v", v, err)
		}
	}
	for _, v := range []string{"1e400", "inf", "-0", " 2.5 ", "NaN", "1_000.5", "-Infinity", ".5", "5.", "1.e5"} {
		if _, err := main.Resolve(ctx, dir, []KV{{"data_file", abs}, {"name", "n"}, {"alpha", v}}, o); err != nil {
			t.Errorf("float %s: %v", v, err)
		}
	}
}

func TestFormat(t *testing.T) {
	vals := map[string]string{"a": "1", "learning-rate": "0.1"}
	for _, tc := range []struct{ in, want, err string }{
		{"x {a} {{a}} }}{{", "x 1 {a} }{", ""},
		{"--lr {learning-rate}", "--lr 0.1", ""},
		{"{a", "", "single '{'"},
		{"a}", "", "single '}'"},
		{"{}", "", "empty replacement field"},
		{"{b}", "", "{b} names no parameter"},
		{"{a!r}", "", "only {name}"},
		{"{a:>5}", "", "only {name}"},
		{"{a.real}", "", "only {name}"},
	} {
		got, err := Format(tc.in, vals)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Format(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Format(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestQuoteMatchesShlex(t *testing.T) {
	// Expected values are what Python's shlex.quote returns.
	for in, want := range map[string]string{
		"":             "''",
		"abc":          "abc",
		"a b":          "'a b'",
		"it's":         `'it'"'"'s'`,
		"-x=1,2:3@%+/": "-x=1,2:3@%+/",
		"$HOME":        "'$HOME'",
		"é":            "'é'",
		"a\nb":         "'a\nb'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestQuoteThroughBash checks Quote and Split against a real shell: bash
// prints each word of the quoted command line NUL-terminated.
func TestQuoteThroughBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	args := []string{"plain", "", "a b", "it's", `"dq"`, "$HOME", "`id`", "back\\slash", "new\nline", "tab\there", "*", "~", "é ü", "a'b'c'", "!x", "{a}", ";&|<>()"}
	var parts []string
	for _, a := range args {
		parts = append(parts, Quote(a))
	}
	line := strings.Join(parts, " ")
	out, err := exec.Command(bash, "-c", "printf '%s\\0' "+line).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !reflect.DeepEqual(got, args) {
		t.Errorf("bash split\n got %q\nwant %q", got, args)
	}
	split, err := Split(line)
	if err != nil || !reflect.DeepEqual(split, args) {
		t.Errorf("Split = %q, %v\nwant %q", split, err, args)
	}
	// Split agrees with bash on double quotes and backslashes too.
	line = `a"b c"d 'e f'\ g "x\"y\\z\$" h\\i "j\k"`
	out, err = exec.Command(bash, "-c", "printf '%s\\0' "+line).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if split, err := Split(line); err != nil || !reflect.DeepEqual(split, want) {
		t.Errorf("Split(%s) = %q, %v; bash says %q", line, split, err, want)
	}
	for _, bad := range []string{`'x`, `"x`, `x\`} {
		if _, err := Split(bad); err == nil {
			t.Errorf("Split(%q) succeeded", bad)
		}
	}
}

func TestURIScheme(t *testing.T) {
	for in, want := range map[string]string{
		"s3://b/k": "s3", "HTTP://x": "http", "file:///a": "file", "/a/b": "", "a/b:c": "", "1a:b": "", ":x": "", "c:/x": "c", "git+ssh://h": "git+ssh",
	} {
		if got := URIScheme(in); got != want {
			t.Errorf("URIScheme(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNumbersAsPython: float and int parameters pass exactly when
// Python's float() and int() accept them (checked against python3).
func TestNumbersAsPython(t *testing.T) {
	values := []string{"1", "-1", "+1", "1.5", ".5", "5.", "1e5", "1E-5", "1.e5", ".5e+3", "1_000", "1_000.000_1", "1__0", "_1", "1_",
		"1_.5", "1._5", "0x10", "0x1p3", "0o7", "0b1", "07", "1e", "e5", ".", "", " ", " 3 ", "\t4\n", "inf", "-Infinity", "+nan", "NaN",
		"infinit", "nanx", "1e400", "1,5", "1 5", "١", "+-1", "--1", "1e5.5", "12345678901234567890123"}
	script := `import json, sys
def ok(f, v):
    try:
        f(v)
        return True
    except ValueError:
        return False
vs = json.loads(sys.argv[1])
print(json.dumps([[ok(float, v), ok(int, v)] for v in vs]))`
	in, _ := json.Marshal(values)
	out, err := exec.Command("python3", "-c", script, string(in)).Output()
	if err != nil {
		t.Skipf("python3: %v", err) // the table below still runs in TestResolve
	}
	var want [][2]bool
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		gotF := checkValue(Parameter{Name: "x", Type: TypeFloat}, v) == nil
		gotI := checkValue(Parameter{Name: "x", Type: TypeInt}, v) == nil
		if strings.ContainsFunc(v, func(r rune) bool { return r > 127 }) {
			continue // Python takes any Unicode digit; mlship ASCII only
		}
		if gotF != want[i][0] || gotI != want[i][1] {
			t.Errorf("%q: float ok %v int ok %v; Python: float %v int %v", v, gotF, gotI, want[i][0], want[i][1])
		}
	}
}
