package sagemaker

import (
	"crypto/rand"
	"encoding/hex"
)

// maxNameLength is SageMaker's limit on model, endpoint configuration
// and transform job names.
const maxNameLength = 63

// uniqueName is base + suffix + 20 random hex digits, with base
// middle-truncated ("abc---xyz") so the whole fits in 63 characters, as
// MLflow's _get_unique_name does.
func uniqueName(base, suffix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	unique := suffix + hex.EncodeToString(b[:])
	return truncateName(base, maxNameLength-len(unique)) + unique
}

// truncateName keeps the start and end of name, joined by "---", when it
// is longer than max.
func truncateName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	avail := max - 3
	start := avail / 2
	end := avail - start
	return name[:start] + "---" + name[len(name)-end:]
}

func modelName(app string) string  { return uniqueName(app, "-model-") }
func configName(app string) string { return uniqueName(app, "-config-") }
