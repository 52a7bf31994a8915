package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlship/mlship/mlmodel"
)

// inspectReport is what `mlship inspect --json` prints.
type inspectReport struct {
	Path           string             `json:"path"`
	MLflowVersion  string             `json:"mlflow_version,omitempty"`
	UTCTimeCreated string             `json:"utc_time_created,omitempty"`
	RunID          string             `json:"run_id,omitempty"`
	ModelUUID      string             `json:"model_uuid,omitempty"`
	ModelID        string             `json:"model_id,omitempty"`
	ArtifactPath   string             `json:"artifact_path,omitempty"`
	Flavors        []inspectFlavor    `json:"flavors"`
	Serving        inspectServing     `json:"serving"`
	Signature      *inspectSig        `json:"signature"`
	InputExample   *inspectExample    `json:"input_example"`
	Size           inspectSize        `json:"size"`
	SavedModel     *inspectSavedModel `json:"saved_model,omitempty"`
}

type inspectFlavor struct {
	Name   string         `json:"name"`
	Config map[string]any `json:"config"`
}

type inspectServing struct {
	Flavor string `json:"flavor,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

type inspectSig struct {
	Inputs  json.RawMessage `json:"inputs"`
	Outputs json.RawMessage `json:"outputs"`
	Params  json.RawMessage `json:"params"`
	schema  *mlmodel.Signature
}

type inspectExample struct {
	File    string          `json:"file"`
	Type    string          `json:"type,omitempty"`
	Request json.RawMessage `json:"request,omitempty"`
	Error   string          `json:"error,omitempty"`
}

type inspectSize struct {
	Files          int    `json:"files"`
	Bytes          int64  `json:"bytes"`
	ModelSizeBytes *int64 `json:"model_size_bytes,omitempty"`
}

// NewCmdInspect is `mlship inspect MODEL`.
func NewCmdInspect(d *deps) *cobra.Command {
	var asJSON bool
	var force string
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Describe a model: flavors, signature, input example, size, and how it would be served",
		Long: "Describe a model: flavors, signature, input example, size, and how it would be served.\n" +
			"MODEL is a directory, its MLmodel file, a file:// URI, or runs:/<run_id>/<path> (downloaded\n" +
			"once from the tracking server MLFLOW_TRACKING_URI names).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := d.resolveModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			m, err := mlmodel.Load(ref)
			if err != nil {
				return err
			}
			r := buildReport(d, m, force)
			if asJSON {
				enc := json.NewEncoder(d.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			printReport(d.stdout, r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&force, "flavor", "", "report on serving with this flavor")
	return cmd
}

func buildReport(d *deps, m *mlmodel.Model, force string) *inspectReport {
	r := &inspectReport{
		Path: m.Dir, MLflowVersion: m.MLflowVersion, UTCTimeCreated: m.UTCTimeCreated,
		RunID: m.RunID, ModelUUID: m.ModelUUID, ModelID: m.ModelID, ArtifactPath: m.ArtifactPath,
	}
	for _, name := range m.FlavorNames() {
		r.Flavors = append(r.Flavors, inspectFlavor{Name: name, Config: m.Flavors[name]})
	}
	if sel, err := d.registry.Select(m, force); err != nil {
		r.Serving.Error = err.Error()
	} else {
		r.Serving.Flavor, r.Serving.Reason = sel.Flavor.Name(), sel.Reason
	}
	if s := m.Signature; s != nil {
		r.Signature = &inspectSig{schema: s, Inputs: json.RawMessage("null"), Outputs: json.RawMessage("null"), Params: json.RawMessage("null")}
		if s.Inputs != nil {
			r.Signature.Inputs, _ = s.Inputs.MarshalJSON()
		}
		if s.Outputs != nil {
			r.Signature.Outputs, _ = s.Outputs.MarshalJSON()
		}
		if s.Params != nil {
			r.Signature.Params, _ = s.Params.MarshalJSON()
		}
	}
	if info := m.SavedInputExampleInfo; info != nil {
		ex := &inspectExample{File: info.ArtifactPath, Type: info.Type}
		if body, err := m.ServingInputExample(); err != nil {
			ex.Error = err.Error()
		} else {
			ex.Request = body
		}
		r.InputExample = ex
	}
	r.Size.ModelSizeBytes = m.ModelSizeBytes
	r.SavedModel = describeSavedModel(m)
	_ = filepath.WalkDir(m.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				r.Size.Files++
				r.Size.Bytes += info.Size()
			}
		}
		return nil
	})
	return r
}

func printReport(w io.Writer, r *inspectReport) {
	fmt.Fprintf(w, "Model:     %s\n", r.Path)
	var meta []string
	add := func(k, v string) {
		if v != "" {
			meta = append(meta, k+" "+v)
		}
	}
	add("mlflow", r.MLflowVersion)
	add("created", r.UTCTimeCreated)
	add("run_id", r.RunID)
	add("model_uuid", r.ModelUUID)
	add("model_id", r.ModelID)
	if len(meta) > 0 {
		fmt.Fprintf(w, "           %s\n", strings.Join(meta, ", "))
	}
	fmt.Fprintln(w, "Flavors:")
	for _, f := range r.Flavors {
		fmt.Fprintf(w, "  %-17s %s\n", f.Name, summarize(f.Config))
	}
	if r.Serving.Error != "" {
		fmt.Fprintf(w, "Serving:   not servable: %s\n", r.Serving.Error)
	} else {
		fmt.Fprintf(w, "Serving:   %s (%s)\n", r.Serving.Flavor, r.Serving.Reason)
	}
	if r.Signature == nil {
		fmt.Fprintln(w, "Signature: none (inputs are typed from the model itself or inferred from each request)")
	} else {
		fmt.Fprintln(w, "Signature:")
		printSchema(w, "inputs", r.Signature.schema.Inputs)
		printSchema(w, "outputs", r.Signature.schema.Outputs)
		if p := r.Signature.schema.Params; p != nil {
			for i, s := range p.Params {
				label := ""
				if i == 0 {
					label = "params:"
				}
				def, _ := json.Marshal(s.Default)
				shape := ""
				if s.Shape != nil {
					shape = " list"
				}
				fmt.Fprintf(w, "  %-9s %s: %s%s (default %s)\n", label, s.Name, s.Type, shape, def)
			}
		}
	}
	if ex := r.InputExample; ex != nil {
		fmt.Fprintf(w, "Example:   %s (%s)\n", ex.File, ex.Type)
		if ex.Error != "" {
			fmt.Fprintf(w, "           cannot build a request: %s\n", ex.Error)
		} else {
			req := string(ex.Request)
			req = strings.Join(strings.Fields(req), " ")
			if len(req) > 200 {
				req = req[:200] + "..."
			}
			fmt.Fprintf(w, "           POST /invocations %s\n", req)
		}
	}
	printSavedModel(w, r.SavedModel)
	fmt.Fprintf(w, "Size:      %s in %d files", humanBytes(r.Size.Bytes), r.Size.Files)
	if r.Size.ModelSizeBytes != nil {
		fmt.Fprintf(w, " (model_size_bytes %d)", *r.Size.ModelSizeBytes)
	}
	fmt.Fprintln(w)
}

func printSchema(w io.Writer, label string, s *mlmodel.Schema) {
	if s == nil {
		fmt.Fprintf(w, "  %-9s none\n", label+":")
		return
	}
	for i, c := range s.Columns {
		l := ""
		if i == 0 {
			l = label + ":"
		}
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("[%d]", i)
		}
		opt := ""
		if !c.Required {
			opt = " (optional)"
		}
		fmt.Fprintf(w, "  %-9s %s: %s%s\n", l, name, c.Type, opt)
	}
	for i, t := range s.Tensors {
		l := ""
		if i == 0 {
			l = label + ":"
		}
		name := t.Name
		if name == "" {
			name = "(unnamed tensor)"
		}
		dims := make([]string, len(t.Shape))
		for j, d := range t.Shape {
			dims[j] = fmt.Sprint(d)
		}
		fmt.Fprintf(w, "  %-9s %s: %s [%s]\n", l, name, t.DType, strings.Join(dims, ", "))
	}
}

func summarize(c mlmodel.FlavorConfig) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		switch v := c[k].(type) {
		case string, int64, float64, bool:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		case nil:
		default:
			b, _ := json.Marshal(v)
			if len(b) > 60 {
				b = append(b[:57], "..."...)
			}
			parts = append(parts, fmt.Sprintf("%s=%s", k, b))
		}
	}
	return strings.Join(parts, " ")
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

var errNoModel = errors.New("no model")
