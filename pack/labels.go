package pack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"time"

	"github.com/mlship/mlship/mlmodel"
)

// Label keys the builder sets. The org.opencontainers.image.* ones are the
// OCI image spec's pre-defined annotation keys; io.mlship.* record what
// deployers and auditors need to tie a running image back to its model.
const (
	LabelCreated     = "org.opencontainers.image.created"
	LabelTitle       = "org.opencontainers.image.title"
	LabelDescription = "org.opencontainers.image.description"
	LabelVersion     = "org.opencontainers.image.version"
	LabelBaseName    = "org.opencontainers.image.base.name"
	LabelBaseDigest  = "org.opencontainers.image.base.digest"

	LabelMlshipVersion   = "io.mlship.version"
	LabelModelUUID       = "io.mlship.model.uuid"
	LabelModelID         = "io.mlship.model.id"
	LabelModelCreated    = "io.mlship.model.created"
	LabelRunID           = "io.mlship.run-id"
	LabelFlavors         = "io.mlship.flavors"
	LabelFlavor          = "io.mlship.flavor"
	LabelMLflowVersion   = "io.mlship.mlflow-version"
	LabelSignatureDigest = "io.mlship.signature-digest"

	// LabelSageMakerBindToPort tells SageMaker the container honours
	// SAGEMAKER_BIND_TO_PORT; SageMaker sets the variable only for images
	// carrying this label.
	LabelSageMakerBindToPort = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"
)

// SignatureDigest is "sha256:<hex>" of the signature's canonical JSON, or ""
// without a signature. The canonical JSON is the object
// {"inputs":I,"outputs":O,"params":P} in that order, each part being the
// schema as MLflow writes it (its json.dumps output, compacted), or null:
// two models answer the same requests when their digests match.
func SignatureDigest(sig *mlmodel.Signature) string {
	if sig == nil {
		return ""
	}
	var buf bytes.Buffer
	buf.WriteString(`{"inputs":`)
	writeSchema(&buf, sig.Inputs)
	buf.WriteString(`,"outputs":`)
	writeSchema(&buf, sig.Outputs)
	buf.WriteString(`,"params":`)
	if sig.Params == nil {
		buf.WriteString("null")
	} else {
		b, _ := sig.Params.MarshalJSON()
		compactInto(&buf, b)
	}
	buf.WriteString("}")
	sum := sha256.Sum256(buf.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:])
}

func writeSchema(buf *bytes.Buffer, s *mlmodel.Schema) {
	if s == nil {
		buf.WriteString("null")
		return
	}
	b, _ := s.MarshalJSON()
	compactInto(buf, b)
}

func compactInto(buf *bytes.Buffer, b []byte) {
	if err := json.Compact(buf, b); err != nil {
		buf.Write(b) // not expected: the schema writers emit valid JSON
	}
}

// modelCreated parses MLmodel's utc_time_created ("2024-01-02 03:04:05.678901",
// naive UTC); zero when absent or unreadable.
func modelCreated(m *mlmodel.Model) time.Time {
	s := strings.TrimSpace(m.UTCTimeCreated)
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// imageLabels are the labels of an image serving m with flavor.
func imageLabels(m *mlmodel.Model, flavor string, created time.Time, base baseInfo, version string) map[string]string {
	l := map[string]string{
		LabelCreated:             created.UTC().Format(time.RFC3339),
		LabelFlavors:             strings.Join(m.FlavorNames(), ","),
		LabelFlavor:              flavor,
		LabelSageMakerBindToPort: "true",
	}
	title := filepath.Base(m.Dir)
	if meta, err := m.RegisteredModelMeta(); err == nil && meta != nil {
		if meta.Name != "" {
			title = meta.Name
		}
		if meta.Version != "" {
			l[LabelVersion] = meta.Version
		}
	}
	l[LabelTitle] = title
	l[LabelDescription] = "MLflow model served by mlship (" + flavor + " flavor)"
	set := func(k, v string) {
		if v != "" {
			l[k] = v
		}
	}
	set(LabelMlshipVersion, version)
	set(LabelModelUUID, m.ModelUUID)
	set(LabelModelID, m.ModelID)
	set(LabelModelCreated, m.UTCTimeCreated)
	set(LabelRunID, m.RunID)
	set(LabelMLflowVersion, m.MLflowVersion)
	set(LabelSignatureDigest, SignatureDigest(m.Signature))
	set(LabelBaseName, base.name)
	set(LabelBaseDigest, base.digest)
	return l
}
