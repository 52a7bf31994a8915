package savedmodel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/internal/tfpb"
)

// InitOpSignatureKey is the signature TF2 uses to carry the SavedModel's
// initialisation op; it is not a serving signature.
const InitOpSignatureKey = "__saved_model_init_op"

// DefaultSignatureKey is the signature chosen when none is named.
const DefaultSignatureKey = "serving_default"

// ServeTag is the tag set chosen when none is given.
const ServeTag = "serve"

// SavedModel is a SavedModel directory whose saved_model.pb has been read.
// Its variables are read on first use by Variables.
type SavedModel struct {
	Dir   string
	Proto *tfpb.SavedModel

	varsOnce sync.Once
	vars     *Checkpoint
	varsErr  error
}

// Load reads dir/saved_model.pb. The variables under dir/variables/ are
// opened lazily by Variables. The text form saved_model.pbtxt is not read.
func Load(dir string) (*SavedModel, error) {
	name := filepath.Join(dir, "saved_model.pb")
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		if _, terr := os.Stat(filepath.Join(dir, "saved_model.pbtxt")); terr == nil {
			return nil, fmt.Errorf("%s has only saved_model.pbtxt, the text format, which is not supported: re-export the model in binary form (saved_model.pb)", dir)
		}
		return nil, fmt.Errorf("%s is not a SavedModel directory: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading SavedModel: %w", err)
	}
	s, err := Parse(dir, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// Parse decodes the bytes of a saved_model.pb and checks that it holds at
// least one MetaGraph. dir is where Variables will look for variables/.
func Parse(dir string, data []byte) (*SavedModel, error) {
	p := &tfpb.SavedModel{}
	if err := proto.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decoding SavedModel protobuf: %w", err)
	}
	if len(p.MetaGraphs) == 0 {
		return nil, errors.New("SavedModel has no MetaGraphs")
	}
	return &SavedModel{Dir: dir, Proto: p}, nil
}

// TagSets returns the tag set of every MetaGraph, each sorted.
func (s *SavedModel) TagSets() [][]string {
	out := make([][]string, 0, len(s.Proto.MetaGraphs))
	for _, mg := range s.Proto.MetaGraphs {
		out = append(out, normTags(mg.GetMetaInfoDef().GetTags()))
	}
	return out
}

func normTags(tags []string) []string {
	t := slices.Clone(tags)
	slices.Sort(t)
	return slices.Compact(t)
}

// MetaGraph picks the MetaGraphDef whose tag set equals tags, ignoring order
// and repeats; nil or empty tags mean ["serve"]. The error lists the tag sets
// there are.
func (s *SavedModel) MetaGraph(tags []string) (*MetaGraph, error) {
	if len(tags) == 0 {
		tags = []string{ServeTag}
	}
	want := normTags(tags)
	for _, mg := range s.Proto.MetaGraphs {
		if slices.Equal(normTags(mg.GetMetaInfoDef().GetTags()), want) {
			return &MetaGraph{Proto: mg, Tags: want}, nil
		}
	}
	var have []string
	for _, ts := range s.TagSets() {
		have = append(have, "["+strings.Join(ts, ",")+"]")
	}
	return nil, fmt.Errorf("SavedModel %s has no MetaGraph tagged [%s]; it has %s", s.Dir, strings.Join(want, ","), strings.Join(have, " "))
}

// Variables opens the SavedModel's checkpoint (dir/variables/variables.index
// and its data shards) on first call and returns it on every call. A
// SavedModel without variables.index has an empty, valid set.
func (s *SavedModel) Variables() (*Checkpoint, error) {
	s.varsOnce.Do(func() {
		prefix := variablesPrefix(s.Dir)
		if _, err := os.Stat(prefix + ".index"); errors.Is(err, fs.ErrNotExist) {
			// A variables/ directory holding data shards but no index is
			// damaged, not variable-free.
			if m, _ := filepath.Glob(prefix + ".data-*"); len(m) > 0 {
				s.varsErr = fmt.Errorf("%s.index is missing but %s exists", prefix, m[0])
				return
			}
			s.vars = emptyCheckpoint()
			return
		}
		s.vars, s.varsErr = OpenCheckpoint(prefix)
	})
	return s.vars, s.varsErr
}

// MetaGraph is one MetaGraphDef of a SavedModel: a graph, its signatures
// and, for TF2 exports, the saved object graph.
type MetaGraph struct {
	Proto *tfpb.MetaGraphDef
	// Tags is the MetaGraph's tag set, sorted.
	Tags []string

	fnOnce sync.Once
	fns    map[string]*tfpb.FunctionDef

	nodeOnce sync.Once
	nodes    map[string]*tfpb.NodeDef

	capOnce sync.Once
	caps    *captures
}

// SignatureKeys returns the signature keys in sorted order, without the
// TF2 init-op pseudo-signature.
func (m *MetaGraph) SignatureKeys() []string {
	var keys []string
	for k := range m.Proto.SignatureDef {
		if k != InitOpSignatureKey {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Signature is a SignatureDef with its inputs and outputs sorted by Name.
type Signature struct {
	Key, MethodName string
	Inputs, Outputs []TensorInfo
}

// TensorInfo describes one input or output of a signature.
type TensorInfo struct {
	// Name is the key in the signature's inputs or outputs map.
	Name string
	// Tensor is the graph tensor, "node:index".
	Tensor string
	DType  tfpb.DataType
	// Shape has -1 for an unknown dimension; it is nil when UnknownRank.
	Shape       []int64
	UnknownRank bool
}

// Signature returns the signature named key ("" means "serving_default").
// The error lists the keys there are. Sparse and composite tensors (a
// TensorInfo without a plain tensor name) are reported as unsupported.
func (m *MetaGraph) Signature(key string) (*Signature, error) {
	if key == "" {
		key = DefaultSignatureKey
	}
	sd, ok := m.Proto.SignatureDef[key]
	if !ok || key == InitOpSignatureKey {
		return nil, fmt.Errorf("no signature %q; signatures: %s", key, strings.Join(m.SignatureKeys(), ", "))
	}
	sig := &Signature{Key: key, MethodName: sd.MethodName}
	var err error
	if sig.Inputs, err = tensorInfos(sd.Inputs); err != nil {
		return nil, fmt.Errorf("signature %q input %w", key, err)
	}
	if sig.Outputs, err = tensorInfos(sd.Outputs); err != nil {
		return nil, fmt.Errorf("signature %q output %w", key, err)
	}
	return sig, nil
}

func tensorInfos(in map[string]*tfpb.TensorInfo) ([]TensorInfo, error) {
	out := make([]TensorInfo, 0, len(in))
	for name, ti := range in {
		if ti == nil {
			return nil, fmt.Errorf("%q: empty TensorInfo", name)
		}
		n, ok := ti.Encoding.(*tfpb.TensorInfo_Name)
		if !ok || n.Name == "" {
			kind := "no tensor name"
			switch ti.Encoding.(type) {
			case *tfpb.TensorInfo_CooSparse_:
				kind = "a sparse (COO) tensor"
			case *tfpb.TensorInfo_CompositeTensor_:
				kind = "a composite tensor"
			}
			return nil, fmt.Errorf("%q is %s, which is not supported", name, kind)
		}
		t := TensorInfo{Name: name, Tensor: n.Name, DType: ti.Dtype}
		if ti.TensorShape.GetUnknownRank() || ti.TensorShape == nil {
			t.UnknownRank = true
		} else {
			t.Shape = make([]int64, len(ti.TensorShape.Dim))
			for i, d := range ti.TensorShape.Dim {
				t.Shape[i] = max(d.GetSize(), -1)
			}
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b TensorInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Functions returns the graph's function library by function name.
// The map is shared: do not modify it.
func (m *MetaGraph) Functions() map[string]*tfpb.FunctionDef {
	m.fnOnce.Do(func() {
		lib := m.Proto.GetGraphDef().GetLibrary().GetFunction()
		m.fns = make(map[string]*tfpb.FunctionDef, len(lib))
		for _, f := range lib {
			if name := f.GetSignature().GetName(); name != "" {
				m.fns[name] = f
			}
		}
	})
	return m.fns
}

// Node returns the top-level graph node named name, or nil.
func (m *MetaGraph) Node(name string) *tfpb.NodeDef {
	m.nodeOnce.Do(func() {
		m.nodes = make(map[string]*tfpb.NodeDef, len(m.Proto.GetGraphDef().GetNode()))
		for _, n := range m.Proto.GetGraphDef().GetNode() {
			if _, dup := m.nodes[n.GetName()]; !dup {
				m.nodes[n.GetName()] = n
			}
		}
	})
	return m.nodes[name]
}
