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

// PlaywrightVersion is the release of the npm package playwright-core
// that scripts/provision-playwright.sh installs into the cache.
const PlaywrightVersion = "1.65.1"

// MLflowNPM returns node and the node_modules directory holding the npm
// `mlflow` client that scripts/provision-mlflow-npm.sh keeps in the cache
// (set NODE_PATH to it), or skips (fails under CI) when either is missing.
func MLflowNPM(t testing.TB) (node, modules string) {
	t.Helper()
	return NodeModules(t, "mlflow-npm", "mlflow", MLflowNPMVersion, "provision-mlflow-npm.sh")
}

// Playwright returns node and the node_modules directory holding the
// playwright-core that scripts/provision-playwright.sh keeps in the cache,
// or skips (fails under CI) when either is missing.
func Playwright(t testing.TB) (node, modules string) {
	t.Helper()
	return NodeModules(t, "playwright", "playwright-core", PlaywrightVersion, "provision-playwright.sh")
}

// NodeModules returns node and the node_modules directory that a
// scripts/provision-*.sh script (named by script) fills in the cache at
// dir/version, or skips (fails under CI) when node or the npm package pkg
// is not there.
func NodeModules(t testing.TB, dir, pkg, version, script string) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		Missing(t, "the npm package "+pkg+" needs Node.js: apt-get install nodejs npm, then run `bash scripts/setup.sh test`")
	}
	modules = filepath.Join(CacheDir(), dir, version, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, filepath.FromSlash(pkg), "package.json")); err != nil {
		Missing(t, "the npm package "+pkg+"@"+version+" is not provisioned under "+modules+": run `bash scripts/"+script+"` (or `bash scripts/setup.sh test`)")
	}
	return node, modules
}
