// Package savedmodel reads TensorFlow SavedModel directories and their
// variables checkpoints in pure Go (no libtensorflow).
package savedmodel

import (
	"errors"

	"github.com/mlship/mlship/internal/tfpb"
)

var errTODO = errors.New("savedmodel: not implemented yet")

// Load reads dir/saved_model.pb and, lazily, dir/variables/.
func Load(dir string) (*SavedModel, error) { return nil, errTODO }

// SavedModel is a loaded SavedModel directory.
type SavedModel struct {
	Dir   string
	Proto *tfpb.SavedModel
}

// MetaGraph picks the MetaGraphDef whose tag set equals tags.
func (s *SavedModel) MetaGraph(tags []string) (*MetaGraph, error) { return nil, errTODO }

// MetaGraph is one MetaGraphDef of a SavedModel.
type MetaGraph struct {
	Proto *tfpb.MetaGraphDef
	Tags  []string
}

// SignatureKeys returns the sorted signature keys.
func (m *MetaGraph) SignatureKeys() []string { return nil }

// Signature returns one signature ("" = "serving_default").
func (m *MetaGraph) Signature(key string) (*Signature, error) { return nil, errTODO }

// Signature is a SignatureDef with its inputs and outputs sorted by name.
type Signature struct {
	Key, MethodName string
	Inputs, Outputs []TensorInfo
}

// TensorInfo describes one signature input or output.
type TensorInfo struct {
	Name        string
	Tensor      string
	DType       tfpb.DataType
	Shape       []int64
	UnknownRank bool
}

// Functions returns the graph's function library by name.
func (m *MetaGraph) Functions() map[string]*tfpb.FunctionDef { return nil }

// Variables opens the variables checkpoint.
func (s *SavedModel) Variables() (*Checkpoint, error) { return nil, errTODO }

// Checkpoint is a TensorBundle checkpoint.
type Checkpoint struct{}

// Keys returns the checkpoint's tensor keys, sorted.
func (c *Checkpoint) Keys() []string { return nil }

// Tensor reads one tensor and verifies its checksum.
func (c *Checkpoint) Tensor(key string) (*Tensor, error) { return nil, errTODO }

// Tensor is a checkpoint tensor.
type Tensor struct {
	DType   tfpb.DataType
	Shape   []int64
	Data    []byte
	Strings [][]byte
}

// VariableKey maps a graph variable to its checkpoint key.
func (m *MetaGraph) VariableKey(ck *Checkpoint, graphVariable string) (string, error) {
	return "", errTODO
}

// CapturedVariables returns the checkpoint keys of a concrete function's
// bound inputs, in capture order.
func (m *MetaGraph) CapturedVariables(functionName string, ck *Checkpoint) ([]string, error) {
	return nil, errTODO
}
