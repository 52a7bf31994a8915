package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
)

// historyTag lists the models logged on a run: a JSON array with one
// MLmodel dictionary per log_model call (MLFLOW_COMPAT.md §7.5).
const historyTag = "mlflow.log-model.history"

// Bounds on model detection, which runs on every run page: an MLmodel is a
// few KB, and a run rarely has more than a handful of top-level folders.
const (
	maxMLmodelBytes = 1 << 20
	maxModelDirs    = 20
)

type modelView struct {
	ArtifactPath string
	BrowseURL    string
	Created      string
	UUID         string
	Source       string // "MLmodel" when read from the artifacts, else the tag
	Flavors      []flavorView
	Inputs       *schemaView
	Outputs      *schemaView
	Params       []paramRow
	Error        string
}

type flavorView struct {
	Name   string
	Config []keyValue
}

type keyValue struct{ Key, Value string }

type schemaView struct {
	Tensor bool
	Rows   []specRow
}

type specRow struct {
	Name, Type, Shape string
	Required          bool
}

type paramRow struct {
	Name, Type, Default, Shape string
}

// loggedModels finds the models of a run: those its history tag records
// (read again from their MLmodel in the artifacts when it is there, since a
// 3.x history entry carries no signature), then any MLmodel at the artifact
// root or one folder down that the tag does not mention.
func (h *handler) loggedModels(ctx context.Context, run *tracking.Run, repo artifacts.Repository, root []artifacts.FileInfo) []modelView {
	var out []modelView
	seen := map[string]bool{}
	if v, ok := run.Tag(historyTag); ok {
		var entries []json.RawMessage
		if err := json.Unmarshal([]byte(v), &entries); err != nil {
			out = append(out, modelView{Error: "The " + historyTag + " tag is not a JSON list: " + err.Error()})
		}
		for _, e := range entries {
			m, err := mlmodel.Parse(e, historyTag)
			if err != nil {
				out = append(out, modelView{Error: err.Error()})
				continue
			}
			p, err := artifacts.CleanPath(m.ArtifactPath)
			if err != nil || seen[p] {
				continue
			}
			seen[p] = true
			mv := h.modelView(run.Info.RunID, m, historyTag)
			if repo != nil {
				if fm, err := readMLmodel(ctx, repo, p); err == nil {
					mv = h.modelView(run.Info.RunID, fm, "MLmodel")
				}
			}
			mv.ArtifactPath = p
			mv.BrowseURL = h.dirLink(run.Info.RunID, p)
			out = append(out, mv)
		}
	}
	if repo == nil {
		return out
	}
	var dirs []string
	for _, f := range root {
		switch {
		case !f.IsDir && f.Path == mlmodel.FileName:
			dirs = append(dirs, "")
		case f.IsDir && len(dirs) < maxModelDirs:
			dirs = append(dirs, f.Path)
		}
	}
	for _, d := range dirs {
		if seen[d] {
			continue
		}
		if d != "" {
			// Only look inside folders whose listing has an MLmodel, so a
			// run with many folders costs one list each, not a failed read.
			entries, err := repo.List(ctx, d)
			if err != nil || !slices.ContainsFunc(entries, func(f artifacts.FileInfo) bool {
				return !f.IsDir && path.Base(f.Path) == mlmodel.FileName
			}) {
				continue
			}
		}
		m, err := readMLmodel(ctx, repo, d)
		mv := modelView{}
		if err != nil {
			mv.Error = err.Error()
		} else {
			mv = h.modelView(run.Info.RunID, m, "MLmodel")
		}
		seen[d] = true
		mv.ArtifactPath = d
		mv.BrowseURL = h.dirLink(run.Info.RunID, d)
		out = append(out, mv)
	}
	return out
}

// dirLink is the run page browsing artifact folder d.
func (h *handler) dirLink(runID, d string) string {
	u := h.runLink(runID)
	if d != "" {
		u += "?dir=" + queryEscape(d)
	}
	return u + "#artifacts"
}

// readMLmodel reads and parses dir/MLmodel from repo.
func readMLmodel(ctx context.Context, repo artifacts.Repository, dir string) (*mlmodel.Model, error) {
	p := mlmodel.FileName
	if dir != "" {
		p = dir + "/" + mlmodel.FileName
	}
	rc, err := repo.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxMLmodelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if len(data) > maxMLmodelBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, maxMLmodelBytes)
	}
	return mlmodel.Parse(data, p)
}

func (h *handler) modelView(runID string, m *mlmodel.Model, source string) modelView {
	mv := modelView{Created: m.UTCTimeCreated, UUID: m.ModelUUID, Source: source}
	if mv.UUID == "" {
		mv.UUID = m.ModelID
	}
	for _, name := range m.FlavorNames() {
		fv := flavorView{Name: name}
		cfg := m.Flavors[name]
		keys := make([]string, 0, len(cfg))
		for k := range cfg {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fv.Config = append(fv.Config, keyValue{k, configValue(cfg[k])})
		}
		mv.Flavors = append(mv.Flavors, fv)
	}
	if s := m.Signature; s != nil {
		mv.Inputs = schemaOf(s.Inputs)
		mv.Outputs = schemaOf(s.Outputs)
		if s.Params != nil {
			for _, p := range s.Params.Params {
				row := paramRow{Name: p.Name, Type: p.Type.String()}
				if p.Default != nil {
					row.Default = configValue(p.Default)
				}
				if p.Shape != nil {
					row.Shape = shapeString(p.Shape)
				}
				mv.Params = append(mv.Params, row)
			}
		}
	}
	return mv
}

func schemaOf(s *mlmodel.Schema) *schemaView {
	if s == nil {
		return nil
	}
	v := &schemaView{Tensor: s.IsTensorBased()}
	for _, c := range s.Columns {
		v.Rows = append(v.Rows, specRow{Name: c.Name, Type: c.Type.String(), Required: c.Required})
	}
	for _, t := range s.Tensors {
		v.Rows = append(v.Rows, specRow{Name: t.Name, Type: t.DType, Shape: shapeString(t.Shape), Required: true})
	}
	return v
}

func shapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// configValue shows a flavor config value: scalars as they are, anything
// nested as compact JSON.
func configValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case bool, int, int64, float64, uint64:
		return fmt.Sprint(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
