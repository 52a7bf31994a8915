package onnx_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/mlmodel"
)

func ptr[T any](v T) *T { return &v }

// onnxBlock parses an MLmodel whose onnx flavor block is body (indented by
// four spaces), so values arrive typed as the YAML reader types them.
func onnxBlock(t *testing.T, body string) mlmodel.FlavorConfig {
	t.Helper()
	doc := "flavors:\n  onnx:\n" + body
	m, err := mlmodel.Parse([]byte(doc), "MLmodel")
	if err != nil {
		t.Fatalf("parsing\n%s\n%v", doc, err)
	}
	return m.Flavors["onnx"]
}

// The flavor block is validated as mlflow.onnx validates
// onnx_session_options when saving (_validate_onnx_session_options) and
// applies them when loading.
func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want *onnx.Config
		err  string // substring of the error; "" for success
	}{
		{
			name: "minimal",
			body: "    data: model.onnx\n",
			want: &onnx.Config{Data: "model.onnx"},
		},
		{
			name: "as mlflow 2.17 writes it",
			body: "    code: null\n    data: model.onnx\n    onnx_session_options: null\n    onnx_version: 1.17.0\n" +
				"    providers:\n    - CUDAExecutionProvider\n    - CPUExecutionProvider\n",
			want: &onnx.Config{Data: "model.onnx", ONNXVersion: "1.17.0", Providers: []string{"CUDAExecutionProvider", "CPUExecutionProvider"}},
		},
		{
			name: "every session option",
			body: `    data: model.onnx
    onnx_session_options:
      intra_op_num_threads: 2
      inter_op_num_threads: 0
      execution_mode: PARALLEL
      graph_optimization_level: 99
      enable_cpu_mem_arena: false
      enable_mem_pattern: true
      log_severity_level: 3
      optimized_model_filepath: /tmp/opt.onnx
      enable_mem_reuse: true
      enable_profiling: false
      extra_session_config:
        session.intra_op.allow_spinning: '0'
        session.dynamic_block_base: 4
        session.disable_prepacking: true
`,
			want: &onnx.Config{Data: "model.onnx", SessionOptions: onnx.SessionOptions{
				IntraOpNumThreads: ptr(2), InterOpNumThreads: ptr(0), ExecutionMode: "parallel",
				GraphOptimizationLevel: ptr(99), EnableCPUMemArena: ptr(false), EnableMemPattern: ptr(true),
				LogSeverityLevel: ptr(3), OptimizedModelFilePath: "/tmp/opt.onnx",
				ExtraSessionConfig: map[string]string{
					"session.intra_op.allow_spinning": "0", "session.dynamic_block_base": "4", "session.disable_prepacking": "1",
				},
				Ignored: []string{"enable_mem_reuse", "enable_profiling"},
			}},
		},
		{
			name: "sequential, level 0",
			body: "    data: m.onnx\n    onnx_session_options:\n      execution_mode: sequential\n      graph_optimization_level: 0\n",
			want: &onnx.Config{Data: "m.onnx", SessionOptions: onnx.SessionOptions{ExecutionMode: "sequential", GraphOptimizationLevel: ptr(0)}},
		},
		{name: "no data", body: "    onnx_version: 1.12.0\n", err: `"data"`},
		{name: "data not a string", body: "    data: [a, b]\n", err: "data"},
		{name: "providers not a list", body: "    data: m.onnx\n    providers: 3\n", err: "providers"},
		{name: "session options not a map", body: "    data: m.onnx\n    onnx_session_options: [1]\n", err: "onnx_session_options"},
		{name: "execution_mode bogus", body: "    data: m.onnx\n    onnx_session_options:\n      execution_mode: bogus\n", err: "execution_mode"},
		{name: "execution_mode not a string", body: "    data: m.onnx\n    onnx_session_options:\n      execution_mode: 1\n", err: "execution_mode"},
		{name: "graph_optimization_level 3", body: "    data: m.onnx\n    onnx_session_options:\n      graph_optimization_level: 3\n", err: "graph_optimization_level"},
		{name: "graph_optimization_level as text", body: "    data: m.onnx\n    onnx_session_options:\n      graph_optimization_level: '99'\n", err: "graph_optimization_level"},
		{name: "negative intra threads", body: "    data: m.onnx\n    onnx_session_options:\n      intra_op_num_threads: -1\n", err: "intra_op_num_threads"},
		{name: "negative inter threads", body: "    data: m.onnx\n    onnx_session_options:\n      inter_op_num_threads: -2\n", err: "inter_op_num_threads"},
		{name: "fractional threads", body: "    data: m.onnx\n    onnx_session_options:\n      intra_op_num_threads: 1.5\n", err: "intra_op_num_threads"},
		{name: "unknown key", body: "    data: m.onnx\n    onnx_session_options:\n      bogus_option: 1\n", err: `"bogus_option"`},
		{name: "log severity out of range", body: "    data: m.onnx\n    onnx_session_options:\n      log_severity_level: 5\n", err: "log_severity_level"},
		{name: "extra config not a map", body: "    data: m.onnx\n    onnx_session_options:\n      extra_session_config: [a]\n", err: "extra_session_config"},
		{name: "extra config value not text", body: "    data: m.onnx\n    onnx_session_options:\n      extra_session_config:\n        k: 1.5\n", err: "extra_session_config.k"},
		{name: "boolean option not a boolean", body: "    data: m.onnx\n    onnx_session_options:\n      enable_mem_pattern: 'yes'\n", err: "enable_mem_pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := onnx.ParseConfig(onnxBlock(t, tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v; want one mentioning %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}
