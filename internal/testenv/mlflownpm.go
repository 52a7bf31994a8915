package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MLflowNPMVersion is the release of the npm package `mlflow` (a Node.js
// client of MLflow's tracking REST API) that scripts/provision-mlflow-npm.sh
// installs into the cache.
const MLflowNPMVersion = "2.0.7"

// MLflowNPM returns node and the node_modules directory holding the npm
// `mlflow` client that scripts/provision-mlflow-npm.sh keeps in the cache
// (set NODE_PATH to it), or skips (fails under CI) when either is missing.
func MLflowNPM(t testing.TB) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		Missing(t, "the npm mlflow client scenario needs Node.js: apt-get install nodejs npm, then run `bash scripts/setup.sh test`")
	}
	modules = filepath.Join(CacheDir(), "mlflow-npm", MLflowNPMVersion, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "mlflow", "package.json")); err != nil {
		Missing(t, "the npm package mlflow@"+MLflowNPMVersion+" is not provisioned under "+modules+": run `bash scripts/provision-mlflow-npm.sh` (or `bash scripts/setup.sh test`)")
	}
	return node, modules
}
