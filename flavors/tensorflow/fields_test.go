package tensorflow

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/internal/tfpb"
	"github.com/mlship/mlship/mlmodel"
)

// TestFlavorFieldsSelect: each field of an MLmodel tensorflow flavor block,
// written to disk and read back, picks what is served: saved_model_dir the
// directory, meta_graph_tags the MetaGraph (compared as a set),
// signature_def_key the signature.
func TestFlavorFieldsSelect(t *testing.T) {
	opts := loadOptions(t)
	root := filepath.Join(t.TempDir(), "model")
	if err := os.MkdirAll(filepath.Join(root, "export", "tf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(testenv.CopyDir(t, sharedModel(t, "saved_model_half_plus_two_cpu/00000123")), filepath.Join(root, "export", "tf", "1")); err != nil {
		t.Fatal(err)
	}
	// A second MetaGraph, tagged [serve, gpu], whose serving_default returns
	// y2 = 0.5x + 3 instead of y = 0.5x + 2.
	pb := filepath.Join(root, "export", "tf", "1", "saved_model.pb")
	b, err := os.ReadFile(pb)
	if err != nil {
		t.Fatal(err)
	}
	var sm tfpb.SavedModel
	if err := proto.Unmarshal(b, &sm); err != nil {
		t.Fatal(err)
	}
	gpu := proto.Clone(sm.MetaGraphs[0]).(*tfpb.MetaGraphDef)
	gpu.MetaInfoDef.Tags = []string{"serve", "gpu"}
	gpu.SignatureDef["serving_default"].Outputs["y"].Encoding = &tfpb.TensorInfo_Name{Name: "y2:0"}
	sm.MetaGraphs = append(sm.MetaGraphs, gpu)
	if b, err = proto.Marshal(&sm); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pb, b, 0o644); err != nil {
		t.Fatal(err)
	}

	x := []float64{0, 1, 2, -4}
	for _, tc := range []struct {
		name  string
		block mlmodel.FlavorConfig
		want  expectedCase
		err   string
	}{
		{"saved_model_dir, defaults", mlmodel.FlavorConfig{"saved_model_dir": "export/tf/1", "model_type": "tf2-module"},
			halfPlus("serving_default", "x", "y", []int64{4, 1}, x, 2), ""},
		{"meta_graph_tags", mlmodel.FlavorConfig{"saved_model_dir": "export/tf/1", "meta_graph_tags": []any{"gpu", "serve"}},
			halfPlus("serving_default", "x", "y", []int64{4, 1}, x, 3), ""},
		{"signature_def_key", mlmodel.FlavorConfig{"saved_model_dir": "export/tf/1", "meta_graph_tags": []any{"serve"}, "signature_def_key": "regress_x2_to_y3", "model_type": "tf1-estimator"},
			halfPlus("regress_x2_to_y3", "inputs", "outputs", []int64{4, 1}, x, 3), ""},
		{"another saved_model_dir", mlmodel.FlavorConfig{"saved_model_dir": "export/tf/2"}, expectedCase{}, "export/tf/2"},
		{"tags that no MetaGraph has", mlmodel.FlavorConfig{"saved_model_dir": "export/tf/1", "meta_graph_tags": []any{"gpu"}}, expectedCase{}, "has no MetaGraph tagged [gpu]; it has [serve] [gpu,serve]"},
		{"a signature it does not have", mlmodel.FlavorConfig{"saved_model_dir": "export/tf/1", "signature_def_key": "predict"}, expectedCase{}, `no signature "predict"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := (&mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{"tensorflow": tc.block}}).WriteFile(root); err != nil {
				t.Fatal(err)
			}
			m, err := mlmodel.Load(root)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Flavor{}.Load(context.Background(), m, opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.(io.Closer).Close()
			out, err := p.Predict(context.Background(), inputBatch(t, tc.want.Inputs), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			compareOutputs(t, out, tc.want.Outputs)
		})
	}
}
