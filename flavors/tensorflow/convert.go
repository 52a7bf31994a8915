package tensorflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/flavors/tensorflow/tf2onnx"
	"github.com/mlship/mlship/internal/tfpb"
)

// converterVersion is part of the cache key: bump it whenever the
// conversion's output changes for the same SavedModel.
const converterVersion = "tf2onnx-5"

// cacheSubdir is where converted models are kept under the cache dir.
const cacheSubdir = "tensorflow-onnx"

// variables resolves graph variables through the SavedModel's checkpoint,
// opened on first use (a graph without variables never opens it).
type variables struct {
	sm *savedmodel.SavedModel
	mg *savedmodel.MetaGraph
}

func (v variables) Variable(node *tfpb.NodeDef) (*tf2onnx.Tensor, error) {
	ck, err := v.sm.Variables()
	if err != nil {
		return nil, err
	}
	key, err := v.mg.VariableKey(ck, node.GetName())
	if err != nil {
		return nil, err
	}
	t, err := ck.Tensor(key)
	if err != nil {
		return nil, err
	}
	return &tf2onnx.Tensor{DType: t.DType, Shape: t.Shape, Data: t.Data, Strings: t.Strings}, nil
}

// Convert translates one signature of a SavedModel to a serialized ONNX
// model.
func Convert(sm *savedmodel.SavedModel, mg *savedmodel.MetaGraph, sig *savedmodel.Signature) ([]byte, error) {
	ts := tf2onnx.Signature{Key: sig.Key}
	for _, t := range sig.Inputs {
		ts.Inputs = append(ts.Inputs, tf2onnx.IO(t))
	}
	for _, t := range sig.Outputs {
		ts.Outputs = append(ts.Outputs, tf2onnx.IO(t))
	}
	model, err := tf2onnx.Convert(mg.Proto, ts, variables{sm: sm, mg: mg}, tf2onnx.Options{Producer: "mlship", ProducerVersion: converterVersion, FlattenUnknownRank: true})
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(model)
	if err != nil {
		return nil, fmt.Errorf("encoding the ONNX model: %w", err)
	}
	return b, nil
}

// loadConverted converts the signature (or finds it converted in the
// cache) and opens it on the ONNX flavor's session code.
func loadConverted(ctx context.Context, sm *savedmodel.SavedModel, mg *savedmodel.MetaGraph, sig *savedmodel.Signature, cfg *Config, opts flavors.LoadOptions) (flavors.Predictor, error) {
	log := opts.Log()
	if len(sig.Inputs) == 0 {
		// ONNX Runtime sessions need inputs; a signature without any can
		// only return what the SavedModel holds (a variable, a constant).
		return constantSignature(sm, mg, sig)
	}
	var cached string
	if opts.CacheDir != "" {
		key, err := digest(sm.Dir, cfg, sig.Key)
		if err != nil {
			return nil, err
		}
		cached = filepath.Join(opts.CacheDir, cacheSubdir, key+".onnx")
	}
	path := cached
	if _, err := os.Stat(cached); cached == "" || err != nil {
		b, err := Convert(sm, mg, sig)
		if err != nil {
			return nil, err
		}
		log.Info("tensorflow: converted the signature to ONNX", "dir", sm.Dir, "signature", sig.Key, "bytes", len(b))
		if cached != "" {
			if err := writeAtomic(cached, b); err != nil {
				log.Warn("tensorflow: cannot cache the converted model", "error", err)
				path = ""
			}
		}
		if path == "" {
			// No cache: a private temporary file, removed once the
			// session has read it. Nothing is written beside the model.
			if path, err = writeTemp(b); err != nil {
				return nil, err
			}
			defer os.Remove(path)
		}
	} else {
		log.Info("tensorflow: using the cached ONNX conversion", "path", cached, "signature", sig.Key)
	}
	p, err := onnx.LoadFile(ctx, path, nil, opts)
	if err != nil {
		return nil, fmt.Errorf("running the converted signature %q: %w", sig.Key, err)
	}
	pr := &predictor{Predictor: p, sig: sig}
	for _, o := range sig.Outputs {
		if tf2onnx.Flattened(tf2onnx.IO(o)) {
			pr.flattened = append(pr.flattened, o.Name)
		}
	}
	return pr, nil
}

func writeTemp(b []byte) (string, error) {
	f, err := os.CreateTemp("", "mlship-tf2onnx-*.onnx")
	if err != nil {
		return "", fmt.Errorf("writing the converted model: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing the converted model: %w", err)
	}
	return f.Name(), nil
}

// writeAtomic writes b to path through a temporary file in the same
// directory, so a concurrent reader never sees a partial model.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.onnx")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// digest keys the cache: the converter version, the tags and signature,
// and the content of saved_model.pb and every file under variables/.
func digest(dir string, cfg *Config, sigKey string) (string, error) {
	h := sha256.New()
	tags := append([]string{}, cfg.Tags...)
	sort.Strings(tags)
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", converterVersion, strings.Join(tags, ","), sigKey)
	files := []string{filepath.Join(dir, "saved_model.pb")}
	vars := filepath.Join(dir, "variables")
	err := filepath.WalkDir(vars, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == vars {
				return filepath.SkipDir
			}
			return err
		}
		if e.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing the SavedModel: %w", err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		fmt.Fprintf(h, "%s\x00", rel)
		r, err := os.Open(f)
		if err != nil {
			return "", fmt.Errorf("hashing the SavedModel: %w", err)
		}
		n, err := io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", fmt.Errorf("hashing the SavedModel: %w", err)
		}
		fmt.Fprintf(h, "\x00%d\x00", n)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
