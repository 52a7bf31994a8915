package mlruns

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mlship/mlship/tracking"
)

// trashDir holds deleted experiments in MLflow's file store.
const trashDir = ".trash"

// Experiment is one experiment directory of an mlruns tree.
type Experiment struct {
	tracking.Experiment // ID is the id in the tree, not in any store
	// Dir is the experiment's directory.
	Dir string
	// RunDirs are its run directories (those with a meta.yaml), sorted.
	RunDirs []string
}

// Run is one run directory read whole.
type Run struct {
	tracking.Run // Data.Metrics holds the latest value of each key
	// History is every metric value, per key in file order.
	History []tracking.Metric
	Dir     string
}

// Scan lists the experiments of the mlruns tree at root, active ones and
// those in .trash, sorted by their id in the tree. Every experiment's
// meta.yaml and tags are read; runs are only listed (ReadRun reads one),
// so a tree of any size costs one run's memory at a time.
func Scan(root string) ([]Experiment, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("mlruns: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("mlruns: %s is not a directory", root)
	}
	var dirs []string
	for _, parent := range []string{root, filepath.Join(root, trashDir)} {
		entries, err := os.ReadDir(parent)
		if err != nil {
			if parent != root && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("mlruns: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			d := filepath.Join(parent, e.Name())
			if _, err := os.Stat(filepath.Join(d, "meta.yaml")); err == nil {
				dirs = append(dirs, d)
			}
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("mlruns: %s holds no experiment (no <id>/meta.yaml): is it an MLflow file store?", root)
	}
	var exps []Experiment
	for _, d := range dirs {
		e, err := readExperiment(d)
		if err != nil {
			return nil, err
		}
		if filepath.Base(filepath.Dir(d)) == trashDir {
			e.LifecycleStage = tracking.StageDeleted // in .trash whatever meta.yaml says
		}
		exps = append(exps, e)
	}
	sort.SliceStable(exps, func(i, j int) bool { return lessID(exps[i].ID, exps[j].ID) })
	for i := 1; i < len(exps); i++ {
		if exps[i].ID == exps[i-1].ID {
			return nil, fmt.Errorf("mlruns: experiment id %s appears twice (%s and %s)", exps[i].ID, exps[i-1].Dir, exps[i].Dir)
		}
	}
	return exps, nil
}

// lessID orders numeric ids numerically ("0" < "2" < "10") and others after.
func lessID(a, b string) bool {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) < len(b)
	}
	return a < b
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// reserved are the directories of an experiment that are not runs.
var reserved = map[string]bool{"tags": true, "datasets": true, "models": true, "traces": true}

func readExperiment(dir string) (Experiment, error) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.yaml"))
	if err != nil {
		return Experiment{}, fmt.Errorf("mlruns: %w", err)
	}
	exp, err := parseExperimentMeta(b)
	if err != nil {
		return Experiment{}, fmt.Errorf("mlruns: %s: %w", dir, err)
	}
	if base := filepath.Base(dir); exp.ID != base {
		return Experiment{}, fmt.Errorf("mlruns: %s: meta.yaml names experiment %s, not %s", dir, exp.ID, base)
	}
	tags, err := readKeyValues(filepath.Join(dir, "tags"))
	if err != nil {
		return Experiment{}, fmt.Errorf("mlruns: experiment %s tags: %w", exp.ID, err)
	}
	for _, kv := range tags {
		exp.Tags = append(exp.Tags, tracking.Tag{Key: kv[0], Value: kv[1]})
	}
	e := Experiment{Experiment: exp, Dir: dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Experiment{}, fmt.Errorf("mlruns: %w", err)
	}
	for _, en := range entries {
		if !en.IsDir() || reserved[en.Name()] || strings.HasPrefix(en.Name(), ".") {
			continue
		}
		rd := filepath.Join(dir, en.Name())
		if _, err := os.Stat(filepath.Join(rd, "meta.yaml")); err == nil {
			e.RunDirs = append(e.RunDirs, rd)
		}
	}
	return e, nil
}

// ReadRun reads the run directory dir of experiment exp: meta.yaml,
// params/, tags/ and metrics/ (keys with "/" are sub-directories).
func ReadRun(exp *Experiment, dir string) (*Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.yaml"))
	if err != nil {
		return nil, fmt.Errorf("mlruns: %w", err)
	}
	info, err := parseRunMeta(b)
	if err != nil {
		return nil, fmt.Errorf("mlruns: %s: %w", dir, err)
	}
	if base := filepath.Base(dir); info.RunID != base {
		return nil, fmt.Errorf("mlruns: %s: meta.yaml names run %s, not %s", dir, info.RunID, base)
	}
	if info.ExperimentID != "" && info.ExperimentID != exp.ID {
		return nil, fmt.Errorf("mlruns: %s: meta.yaml says experiment %s, but the run is in %s", dir, info.ExperimentID, exp.ID)
	}
	info.ExperimentID = exp.ID
	r := &Run{Run: tracking.Run{Info: info}, Dir: dir}

	params, err := readKeyValues(filepath.Join(dir, "params"))
	if err != nil {
		return nil, fmt.Errorf("mlruns: run %s params: %w", info.RunID, err)
	}
	for _, kv := range params {
		r.Data.Params = append(r.Data.Params, tracking.Param{Key: kv[0], Value: kv[1]})
	}
	tags, err := readKeyValues(filepath.Join(dir, "tags"))
	if err != nil {
		return nil, fmt.Errorf("mlruns: run %s tags: %w", info.RunID, err)
	}
	for _, kv := range tags {
		r.Data.Tags = append(r.Data.Tags, tracking.Tag{Key: kv[0], Value: kv[1]})
	}
	if r.Info.RunName == "" {
		r.Info.RunName, _ = r.Tag("mlflow.runName")
	}
	if err := r.readMetrics(filepath.Join(dir, "metrics")); err != nil {
		return nil, fmt.Errorf("mlruns: run %s: %w", info.RunID, err)
	}
	if r.Inputs, err = readInputs(filepath.Join(dir, "inputs"), filepath.Join(exp.Dir, "datasets")); err != nil {
		return nil, fmt.Errorf("mlruns: run %s inputs: %w", info.RunID, err)
	}
	return r, nil
}

// readInputs reads a run's dataset inputs: each inputs/<id>/meta.yaml names
// a dataset under the experiment's datasets/ directory.
func readInputs(dir, datasets string) ([]tracking.DatasetInput, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []tracking.DatasetInput
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "meta.yaml"))
		if err != nil {
			return nil, err
		}
		dsID, tags, ok, err := parseInputMeta(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if !ok {
			continue
		}
		if !validRunID.MatchString(dsID) { // an id, never a path
			return nil, fmt.Errorf("%s: invalid dataset id %q", e.Name(), truncate(dsID))
		}
		b, err = os.ReadFile(filepath.Join(datasets, dsID, "meta.yaml"))
		if err != nil {
			return nil, fmt.Errorf("dataset %s: %w", dsID, err)
		}
		ds, err := parseDatasetMeta(b)
		if err != nil {
			return nil, fmt.Errorf("dataset %s: %w", dsID, err)
		}
		out = append(out, tracking.DatasetInput{Tags: tags, Dataset: ds})
	}
	return out, nil
}

func (r *Run) readMetrics(dir string) error {
	files, err := keyFiles(dir)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for _, kf := range files {
		f, err := os.Open(kf.path)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		var latest *tracking.Metric
		n := 0
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			n++
			m, err := parseMetricLine(kf.key, line)
			if err != nil {
				f.Close()
				return fmt.Errorf("%s line %d: %w", kf.path, n, err)
			}
			r.History = append(r.History, m)
			if latest == nil || m.Later(*latest) {
				latest = &r.History[len(r.History)-1]
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", kf.path, err)
		}
		if latest != nil {
			r.Data.Metrics = append(r.Data.Metrics, *latest)
		}
	}
	return nil
}

type keyFile struct{ key, path string }

// keyFiles lists the files under dir, each with its key: the path relative
// to dir with "/" separators (MLflow stores "a/b" as dir a, file b). A
// missing dir has none. Symbolic links are not followed.
func keyFiles(dir string) ([]keyFile, error) {
	var out []keyFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, keyFile{key: filepath.ToSlash(rel), path: p})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, err
}

// readKeyValues reads a params/ or tags/ directory: each file's whole
// content is its value.
func readKeyValues(dir string) ([][2]string, error) {
	files, err := keyFiles(dir)
	if err != nil {
		return nil, err
	}
	out := make([][2]string, 0, len(files))
	for _, kf := range files {
		b, err := os.ReadFile(kf.path)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{kf.key, string(b)})
	}
	return out, nil
}

// localPath returns the local directory an artifact URI names (a file URI
// or a plain path), or "" for a remote one.
func localPath(uri string) string {
	if uri == "" {
		return ""
	}
	if strings.HasPrefix(uri, "file:") {
		u, err := url.Parse(uri)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return ""
		}
		if u.Path == "" {
			return u.Opaque
		}
		return u.Path
	}
	if scheme, _, ok := strings.Cut(uri, ":"); ok && len(scheme) > 1 && !strings.ContainsAny(scheme, `/\`) {
		return "" // s3://, gs://, mlflow-artifacts:/, dbfs:/ ...
	}
	return uri
}

// fileURI is the file:// URI of an absolute local path.
func fileURI(p string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
}
