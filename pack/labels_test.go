package pack

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/mlship/mlship/mlmodel"
)

func mustModel(t *testing.T, dir string) *mlmodel.Model {
	t.Helper()
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The signature digest is the sha256 of a documented canonical form, so
// anyone can recompute it from MLmodel.
func TestSignatureDigest(t *testing.T) {
	m, err := mlmodel.Parse([]byte(`flavors: {}
signature:
  inputs: '[{"name": "input", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]'
  outputs: '[{"type": "double"}]'
  params: null
`), "MLmodel")
	if err != nil {
		t.Fatal(err)
	}
	canonical := `{"inputs":[{"name":"input","type":"tensor","tensor-spec":{"dtype":"float32","shape":[-1,4]}}],` +
		`"outputs":[{"type":"double"}],"params":null}`
	sum := sha256.Sum256([]byte(canonical))
	if got, want := SignatureDigest(m.Signature), "sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Errorf("digest %s, want %s (of %s)", got, want, canonical)
	}
	if SignatureDigest(nil) != "" {
		t.Error("a model without signature has a digest")
	}
	// Spelling that MLflow normalises does not change the digest.
	m2, _ := mlmodel.Parse([]byte(`flavors: {}
signature:
  inputs: '[{"type": "tensor", "name": "input", "tensor-spec": {"shape": [-1, 4], "dtype": "float32"}}]'
  outputs: '[{"type": "double"}]'
`), "MLmodel")
	if SignatureDigest(m2.Signature) != SignatureDigest(m.Signature) {
		t.Error("key order changed the digest")
	}
}

func TestModelCreated(t *testing.T) {
	for in, want := range map[string]string{
		"2026-11-26 00:00:00.000000": "2026-11-26T00:00:00Z",
		"2024-01-02 03:04:05.678901": "2024-01-02T03:04:05.678901Z",
		"":                           "0001-01-01T00:00:00Z",
		"yesterday":                  "0001-01-01T00:00:00Z",
	} {
		got := modelCreated(&mlmodel.Model{UTCTimeCreated: in})
		if s := got.Format("2006-01-02T15:04:05.999999999Z07:00"); s != want {
			t.Errorf("%q: %s, want %s", in, s, want)
		}
	}
}
