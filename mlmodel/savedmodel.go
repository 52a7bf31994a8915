package mlmodel

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// savedModelFile marks a TensorFlow SavedModel directory.
const savedModelFile = "saved_model.pb"

// savedModelDescriptor describes a plain TensorFlow SavedModel directory,
// which has no MLmodel, as the `tensorflow` flavor block MLflow would
// write for it: the directory itself or, in TensorFlow Serving's layout
// (numbered version subdirectories), its highest version; tags ["serve"]
// and the serving_default signature.
func savedModelDescriptor(path string) (*Model, bool) {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return nil, false
	}
	rel := ""
	if isFile(filepath.Join(path, savedModelFile)) {
		rel = "."
	} else {
		entries, _ := os.ReadDir(path)
		var versions []int64
		for _, e := range entries {
			v, err := strconv.ParseInt(e.Name(), 10, 64)
			if err == nil && e.IsDir() && isFile(filepath.Join(path, e.Name(), savedModelFile)) {
				versions = append(versions, v)
			}
		}
		if len(versions) == 0 {
			return nil, false
		}
		sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
		// The directory name, not the number: "00000124" keeps its zeros.
		for _, e := range entries {
			if v, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && v == versions[len(versions)-1] && e.IsDir() {
				rel = e.Name()
			}
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, false
	}
	return &Model{
		Flavors: map[string]FlavorConfig{"tensorflow": {
			"saved_model_dir":   rel,
			"meta_graph_tags":   []any{"serve"},
			"signature_def_key": "serving_default",
		}},
		Dir: abs,
	}, true
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
