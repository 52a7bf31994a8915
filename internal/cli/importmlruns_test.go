package cli

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
)

func TestImportMlruns(t *testing.T) {
	tree := filepath.Join(t.TempDir(), "mlruns")
	if err := os.CopyFS(tree, os.DirFS("../../tracking/mlruns/testdata/mlruns")); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "mlflow.db")
	env := map[string]string{"MLFLOW_BACKEND_STORE_URI": "sqlite:///" + db}
	out, stderr, err := runWithEnv(t, env, "import-mlruns", tree)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"Imported 5 run(s)", "(0 already there)", "14 metric values",
		"123456789012345678", "fraud-detection", "old-exp", "deleted", "existed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Again, as JSON: nothing new.
	out, stderr, err = runWithEnv(t, nil, "import-mlruns", tree, "--json", "--backend-store-uri", "sqlite:///"+db)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rep struct {
		Runs        int `json:"runs_imported"`
		RunsPresent int `json:"runs_already_present"`
		Experiments []struct {
			TreeID  string `json:"tree_id"`
			StoreID string `json:"store_id"`
			Existed bool   `json:"existed"`
		} `json:"experiments"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Runs != 0 || rep.RunsPresent != 5 || len(rep.Experiments) != 3 || !rep.Experiments[1].Existed {
		t.Errorf("second import: %+v", rep)
	}
	s, err := sqlstore.Open(t.Context(), "sqlite:///"+db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.GetRun(t.Context(), "a1b2c3d4e5f60718293a4b5c6d7e8f90")
	if err != nil {
		t.Fatal(err)
	}
	if r.Info.ExperimentID != rep.Experiments[1].StoreID || r.Info.Status != tracking.StatusFinished {
		t.Errorf("imported run: %+v (experiments %+v)", r.Info, rep.Experiments)
	}

	// A broken run: reported, the command fails, the rest is imported.
	meta := filepath.Join(tree, "0", "5f2b1c0d9e8a4b7c8d6e5f4a3b2c1d0e", "meta.yaml")
	if err := os.WriteFile(meta, []byte("run_id: [oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db2 := filepath.Join(t.TempDir(), "other.db")
	_, stderr, err = runWithEnv(t, nil, "import-mlruns", tree, "--backend-store-uri", "sqlite:///"+db2)
	if err == nil || !strings.Contains(err.Error(), "1 item(s)") || !strings.Contains(stderr, "not imported") {
		t.Errorf("a broken run: %v\n%s", err, stderr)
	}
	if _, _, err := runWithEnv(t, nil, "import-mlruns", t.TempDir(), "--backend-store-uri", "sqlite:///"+db2); err == nil ||
		!strings.Contains(err.Error(), "no experiment") {
		t.Errorf("an empty directory: %v", err)
	}
}

// TestImportMlrunsIntoServer imports through a running tracking server's
// REST API: runs get new ids, keep their data, and a second import over
// HTTP adds nothing.
func TestImportMlrunsIntoServer(t *testing.T) {
	tree := filepath.Join(t.TempDir(), "mlruns")
	if err := os.CopyFS(tree, os.DirFS("../../tracking/mlruns/testdata/mlruns")); err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.Open(t.Context(), "sqlite:///"+filepath.Join(t.TempDir(), "mlflow.db"), sqlstore.Options{DefaultArtifactRoot: "mlflow-artifacts:/"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv, err := server.New(store, server.Options{
		ServeArtifacts: true, ArtifactsDestination: artifacts.NewLocal(t.TempDir()),
		DefaultArtifactRoot: "mlflow-artifacts:/", Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	out, stderr, err := runWithEnv(t, nil, "import-mlruns", tree, "--backend-store-uri", ts.URL, "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rep struct {
		Runs      int               `json:"runs_imported"`
		Inputs    int               `json:"dataset_inputs"`
		NewRunIDs map[string]string `json:"new_run_ids"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Runs != 5 || rep.Inputs != 2 || len(rep.NewRunIDs) != 5 {
		t.Fatalf("report: %s", out)
	}
	r, err := store.GetRun(t.Context(), rep.NewRunIDs["5f2b1c0d9e8a4b7c8d6e5f4a3b2c1d0e"])
	if err != nil {
		t.Fatal(err)
	}
	if r.Info.RunName != "bold-owl-123" || r.Info.Status != tracking.StatusFinished || r.Info.EndTime != 1700000200000 || len(r.Data.Params) != 2 {
		t.Errorf("run imported over HTTP: %+v %+v", r.Info, r.Data.Params)
	}
	h, _, err := store.MetricHistory(t.Context(), r.Info.RunID, "loss", tracking.Page{})
	if err != nil || len(h) != 3 {
		t.Errorf("loss history over HTTP: %v %v", h, err)
	}
	out, stderr, err = runWithEnv(t, nil, "import-mlruns", tree, "--backend-store-uri", ts.URL, "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, `"runs_imported": 0`) || !strings.Contains(out, `"runs_already_present": 5`) {
		t.Errorf("second import over HTTP: %s", out)
	}
}
