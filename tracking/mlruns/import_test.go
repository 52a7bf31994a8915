package mlruns_test

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/mlruns"
	"github.com/mlship/mlship/tracking/sqlstore"
)

var _ mlruns.Importer = (*sqlstore.Store)(nil)

const (
	expFraud = "123456789012345678"
	expTrash = "987654321098765432"
	run1     = "5f2b1c0d9e8a4b7c8d6e5f4a3b2c1d0e" // Default, FINISHED, logged model
	run2     = "a1b2c3d4e5f60718293a4b5c6d7e8f90" // fraud, FINISHED, nan/inf, legacy line
	run3     = "0c1d2e3f405162738495a6b7c8d9eaf0" // fraud, FAILED, deleted
	run4     = "ffeeddccbbaa99887766554433221100" // fraud, RUNNING, s3 artifacts
	run5     = "0123456789abcdef0123456789abcdef" // old-exp (.trash), KILLED
)

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), "sqlite:///"+filepath.Join(t.TempDir(), "mlflow.db"),
		sqlstore.Options{DefaultArtifactRoot: filepath.Join(t.TempDir(), "artifacts")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fixture copies testdata/mlruns to a temp dir (so relocated artifact URIs
// point somewhere the test controls) and returns its absolute path.
func fixture(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "mlruns")
	if err := os.CopyFS(dst, os.DirFS("testdata/mlruns")); err != nil {
		t.Fatal(err)
	}
	return dst
}

func fileURI(p string) string { return "file://" + filepath.ToSlash(p) }

func storeIDs(t *testing.T, rep *mlruns.Report) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, e := range rep.Experiments {
		ids[e.SourceID] = e.StoreID
	}
	return ids
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

func openPostgres(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), testenv.Postgres(t), sqlstore.Options{DefaultArtifactRoot: "mlflow-artifacts:/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestImportRoundTrip(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testRoundTrip(t, openStore(t)) })
	t.Run("PostgreSQL", func(t *testing.T) { testRoundTrip(t, openPostgres(t)) })
}

func testRoundTrip(t *testing.T, store *sqlstore.Store) {
	ctx := t.Context()
	tree := fixture(t)
	rep, err := mlruns.Import(ctx, store, tree, mlruns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if rep.Runs != 5 || rep.RunsPresent != 0 || rep.Params != 5 || rep.MetricValues != 14 || rep.Relocated != 2 {
		t.Errorf("report: runs %d present %d params %d metric values %d relocated %d, want 5 0 5 14 2",
			rep.Runs, rep.RunsPresent, rep.Params, rep.MetricValues, rep.Relocated)
	}
	ids := storeIDs(t, rep)
	if ids["0"] != "0" || ids[expFraud] == "" || ids[expTrash] == "" || ids[expFraud] == ids[expTrash] {
		t.Fatalf("experiment ids: %v", ids)
	}
	for _, e := range rep.Experiments {
		if e.Existed != (e.SourceID == "0") {
			t.Errorf("experiment %s: Existed = %v", e.SourceID, e.Existed)
		}
	}

	// Experiments: names, stages, times, tags, artifact locations.
	fraud, err := store.GetExperiment(ctx, ids[expFraud])
	if err != nil {
		t.Fatal(err)
	}
	sortTags(fraud.Tags)
	if diff := cmp.Diff(&tracking.Experiment{
		ID: ids[expFraud], Name: "fraud-detection", LifecycleStage: tracking.StageActive,
		ArtifactLocation: fileURI(filepath.Join(tree, expFraud)), // the original is gone: the tree's copy
		CreationTime:     1700001000000, LastUpdateTime: 1700005000000,
		Tags: []tracking.Tag{{Key: "mlflow.note.content", Value: "Fraud models, Q4"}, {Key: "team", Value: "risk"}},
	}, fraud); diff != "" {
		t.Errorf("fraud-detection (-want +got):\n%s", diff)
	}
	old, err := store.GetExperimentByName(ctx, "old-exp")
	if err != nil {
		t.Fatal(err)
	}
	if old.ID != ids[expTrash] || old.LifecycleStage != tracking.StageDeleted || old.CreationTime != 1690000000000 {
		t.Errorf("old-exp from .trash: %+v", old)
	}

	// Runs: ids, names, users, statuses, times, stages, artifact URIs.
	for _, want := range []tracking.RunInfo{
		{RunID: run1, RunName: "bold-owl-123", ExperimentID: "0", UserID: "alice", Status: tracking.StatusFinished,
			StartTime: 1700000100000, EndTime: 1700000200000, LifecycleStage: tracking.StageActive,
			ArtifactURI: fileURI(filepath.Join(tree, "0", run1, "artifacts"))},
		{RunID: run2, RunName: "gentle-fox-7", ExperimentID: ids[expFraud], UserID: "alice", Status: tracking.StatusFinished,
			StartTime: 1700001100000, EndTime: 1700001900000, LifecycleStage: tracking.StageActive,
			ArtifactURI: fileURI(filepath.Join(tree, expFraud, run2, "artifacts"))},
		{RunID: run3, RunName: "sad-cat-42", ExperimentID: ids[expFraud], UserID: "alice", Status: tracking.StatusFailed,
			StartTime: 1700002000000, EndTime: 1700002100000, LifecycleStage: tracking.StageDeleted,
			// No copy in the tree: the original URI is kept.
			ArtifactURI: "file:///home/alice/project/mlruns/" + expFraud + "/" + run3 + "/artifacts"},
		{RunID: run4, RunName: "busy-bee-1", ExperimentID: ids[expFraud], UserID: "bob", Status: tracking.StatusRunning,
			StartTime: 1700003000000, LifecycleStage: tracking.StageActive,
			ArtifactURI: "s3://ml-bucket/artifacts/" + expFraud + "/" + run4 + "/artifacts"},
		{RunID: run5, RunName: "old-run", ExperimentID: ids[expTrash], UserID: "alice", Status: tracking.StatusKilled,
			StartTime: 1690000100000, EndTime: 1690000200000, LifecycleStage: tracking.StageActive,
			ArtifactURI: "mlflow-artifacts:/" + expTrash + "/" + run5 + "/artifacts"},
	} {
		got, err := store.GetRun(ctx, want.RunID)
		if err != nil {
			t.Errorf("GetRun(%s): %v", want.RunID, err)
			continue
		}
		if diff := cmp.Diff(want, got.Info); diff != "" {
			t.Errorf("run %s (-want +got):\n%s", want.RunID, diff)
		}
	}

	// Data of run 1: params with a slash key, system tags verbatim, latest metrics.
	r1, err := store.GetRun(ctx, run1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]tracking.Param{{Key: "lr", Value: "0.01"}, {Key: "optimizer/name", Value: "adam"}}, r1.Data.Params); diff != "" {
		t.Errorf("run 1 params (-want +got):\n%s", diff)
	}
	wantTags := map[string]string{
		"mlflow.runName": "bold-owl-123", "mlflow.user": "alice", "mlflow.source.name": "train.py",
		"mlflow.source.type": "LOCAL", "mlflow.note.content": "first baseline\nwith two lines",
	}
	for k, v := range wantTags {
		if got, ok := r1.Tag(k); !ok || got != v {
			t.Errorf("run 1 tag %s = %q, %v; want %q", k, got, ok, v)
		}
	}
	if h, _ := r1.Tag("mlflow.log-model.history"); !strings.HasPrefix(h, `[{"run_id": "`+run1+`", "artifact_path": "model"`) {
		t.Errorf("mlflow.log-model.history = %q", h)
	}
	latest := map[string]tracking.Metric{}
	for _, m := range r1.Data.Metrics {
		latest[m.Key] = m
	}
	if m := latest["loss"]; m.Value != 0.25 || m.Step != 2 || m.Timestamp != 1700000103000 {
		t.Errorf("latest loss: %+v", m)
	}
	if m := latest["val/acc"]; m.Value != 0.875 || m.Step != 2 {
		t.Errorf("latest val/acc: %+v", m)
	}

	// Full histories, including the legacy 2-field line (step 0), NaN and ±Inf.
	hist := func(run, key string) []tracking.Metric {
		t.Helper()
		h, _, err := store.MetricHistory(ctx, run, key, tracking.Page{})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if diff := cmp.Diff([]tracking.Metric{
		{Key: "loss", Value: 0.9, Timestamp: 1700000101000, Step: 0},
		{Key: "loss", Value: 0.5, Timestamp: 1700000102000, Step: 1},
		{Key: "loss", Value: 0.25, Timestamp: 1700000103000, Step: 2},
	}, hist(run1, "loss")); diff != "" {
		t.Errorf("loss history (-want +got):\n%s", diff)
	}
	auc := hist(run2, "auc")
	if len(auc) != 3 || auc[0].Value != 0.81 || auc[0].Step != 0 || auc[1].Value != 0.84 || !math.IsNaN(auc[2].Value) {
		t.Errorf("auc history: %+v", auc)
	}
	gn := hist(run2, "grad_norm")
	if len(gn) != 3 || !math.IsInf(gn[0].Value, 1) || !math.IsInf(gn[1].Value, -1) || gn[2].Value != 1e-05 {
		t.Errorf("grad_norm history: %+v", gn)
	}
	if h := hist(run5, "epoch_time"); len(h) != 2 {
		t.Errorf("epoch_time history of the run in .trash: %+v", h)
	}

	// Dataset inputs, with their tags and the datasets' schema as written.
	r2, err := store.GetRun(ctx, run2)
	if err != nil {
		t.Fatal(err)
	}
	checkInputs(t, r2.Inputs)
	if rep.Inputs != 2 {
		t.Errorf("report: %d inputs, want 2", rep.Inputs)
	}

	// Soft-deleted runs are in the store's deleted view, as in MLflow.
	active, _, err := store.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{ids[expFraud]}, ViewType: tracking.ActiveOnly})
	if err != nil {
		t.Fatal(err)
	}
	deleted, _, err := store.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{ids[expFraud]}, ViewType: tracking.DeletedOnly})
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 2 || len(deleted) != 1 || deleted[0].Info.RunID != run3 {
		t.Errorf("fraud-detection: %d active, %d deleted runs", len(active), len(deleted))
	}

	// Importing again duplicates nothing.
	before := snapshot(t, store)
	rep2, err := mlruns.Import(ctx, store, tree, mlruns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Runs != 0 || rep2.RunsPresent != 5 || len(rep2.Problems) != 0 {
		t.Errorf("second import: %d runs, %d present, problems %v", rep2.Runs, rep2.RunsPresent, rep2.Problems)
	}
	if diff := cmp.Diff(storeIDs(t, rep), storeIDs(t, rep2)); diff != "" {
		t.Errorf("second import mapped experiments differently (-first +second):\n%s", diff)
	}
	for _, e := range rep2.Experiments {
		if !e.Existed {
			t.Errorf("second import created experiment %s again", e.SourceID)
		}
	}
	if diff := cmp.Diff(before, snapshot(t, store)); diff != "" {
		t.Errorf("the store changed on a second import (-before +after):\n%s", diff)
	}
}

// snapshot is every experiment and run of a store with its metric
// history lengths, for comparing a store before and after.
func snapshot(t *testing.T, s tracking.Store) []string {
	t.Helper()
	ctx := t.Context()
	exps, _, err := s.SearchExperiments(ctx, tracking.ExperimentQuery{ViewType: tracking.All})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range exps {
		out = append(out, "exp "+e.ID+" "+e.Name+" "+e.LifecycleStage)
		runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{e.ID}, ViewType: tracking.All})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			line := "run " + r.Info.RunID + " " + string(r.Info.Status) + " " + r.Info.LifecycleStage
			for _, m := range r.Data.Metrics {
				h, _, err := s.MetricHistory(ctx, r.Info.RunID, m.Key, tracking.Page{})
				if err != nil {
					t.Fatal(err)
				}
				line += " " + m.Key + "=" + strings.Repeat("x", len(h))
			}
			line += " params=" + strings.Repeat("p", len(r.Data.Params)) + " tags=" + strings.Repeat("t", len(r.Data.Tags))
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}

func checkInputs(t *testing.T, inputs []tracking.DatasetInput) {
	t.Helper()
	sort.Slice(inputs, func(i, j int) bool { return inputs[i].Dataset.Name < inputs[j].Dataset.Name })
	schema := `{"mlflow_colspec": [{"type": "double", "name": "amount", "required": true}, {"type": "long", "name": "merchant", "required": true}, {"type": "boolean", "name": "fraud", "required": true}]}`
	if diff := cmp.Diff([]tracking.DatasetInput{
		{Tags: []tracking.Tag{{Key: "mlflow.data.context", Value: "train"}}, Dataset: tracking.Dataset{
			Name: "transactions", Digest: "8a2f5c1e", SourceType: "s3", Source: `{"uri": "s3://ml-bucket/data/transactions.parquet"}`,
			Schema: schema, Profile: `{"num_rows": 80000, "num_elements": 240000}`}},
		{Tags: []tracking.Tag{{Key: "mlflow.data.context", Value: "eval"}}, Dataset: tracking.Dataset{
			Name: "transactions-holdout", Digest: "1b7d9e03", SourceType: "s3", Source: `{"uri": "s3://ml-bucket/data/transactions-holdout.parquet"}`,
			Schema: schema, Profile: `{"num_rows": 20000, "num_elements": 60000}`}},
	}, inputs); diff != "" {
		t.Errorf("dataset inputs (-want +got):\n%s", diff)
	}
}

func sortTags(tags []tracking.Tag) {
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
}

// plainStore hides sqlstore's Importer, so Import goes through the
// ordinary API, as it would for any other tracking.Store.
type plainStore struct{ tracking.Store }

func TestImportThroughPlainAPI(t *testing.T) {
	ctx := t.Context()
	store := openStore(t)
	tree := fixture(t)
	rep, err := mlruns.Import(ctx, plainStore{store}, tree, mlruns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if rep.Runs != 5 || len(rep.NewRunIDs) != 5 {
		t.Fatalf("runs %d, new ids %v", rep.Runs, rep.NewRunIDs)
	}
	ids := storeIDs(t, rep)
	r2, err := store.GetRun(ctx, rep.NewRunIDs[run2])
	if err != nil {
		t.Fatal(err)
	}
	if src, _ := r2.Tag(mlruns.ImportedRunTag); src != run2 {
		t.Errorf("%s = %q", mlruns.ImportedRunTag, src)
	}
	if r2.Info.ExperimentID != ids[expFraud] || r2.Info.RunName != "gentle-fox-7" || r2.Info.Status != tracking.StatusFinished ||
		r2.Info.StartTime != 1700001100000 || r2.Info.EndTime != 1700001900000 || len(r2.Data.Params) != 2 {
		t.Errorf("run 2 through the API: %+v %+v", r2.Info, r2.Data.Params)
	}
	checkInputs(t, r2.Inputs)
	h, _, err := store.MetricHistory(ctx, r2.Info.RunID, "auc", tracking.Page{})
	if err != nil || len(h) != 3 {
		t.Errorf("auc history: %v, %v", h, err)
	}
	r3, err := store.GetRun(ctx, rep.NewRunIDs[run3])
	if err != nil || r3.Info.LifecycleStage != tracking.StageDeleted || r3.Info.Status != tracking.StatusFailed {
		t.Errorf("deleted run 3: %+v, %v", r3, err)
	}
	old, err := store.GetExperiment(ctx, ids[expTrash])
	if err != nil || old.LifecycleStage != tracking.StageDeleted {
		t.Errorf("old-exp: %+v, %v", old, err)
	}
	before := snapshot(t, store)
	rep2, err := mlruns.Import(ctx, plainStore{store}, tree, mlruns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Runs != 0 || rep2.RunsPresent != 5 {
		t.Errorf("second import through the API: %d runs, %d present, problems %v", rep2.Runs, rep2.RunsPresent, rep2.Problems)
	}
	if diff := cmp.Diff(before, snapshot(t, store)); diff != "" {
		t.Errorf("the store changed on a second import (-before +after):\n%s", diff)
	}
}

func TestImportKeepArtifactURIs(t *testing.T) {
	store := openStore(t)
	rep, err := mlruns.Import(t.Context(), store, fixture(t), mlruns.Options{KeepArtifactURIs: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Relocated != 0 {
		t.Errorf("relocated %d", rep.Relocated)
	}
	r, err := store.GetRun(t.Context(), run1)
	if err != nil {
		t.Fatal(err)
	}
	if want := "file:///home/alice/project/mlruns/0/" + run1 + "/artifacts"; r.Info.ArtifactURI != want {
		t.Errorf("artifact URI %q, want %q", r.Info.ArtifactURI, want)
	}
}

// TestImportProblems: a run that cannot be read is reported, the rest is
// imported, and a second import after the fix brings in just that run.
func TestImportProblems(t *testing.T) {
	ctx := t.Context()
	store := openStore(t)
	tree := fixture(t)
	metric := filepath.Join(tree, expFraud, run2, "metrics", "auc")
	good, err := os.ReadFile(metric)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metric, []byte("1700001200000 not-a-number 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := mlruns.Import(ctx, store, tree, mlruns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs != 4 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "bad value") || !strings.Contains(rep.Problems[0], run2) {
		t.Fatalf("runs %d, problems %q", rep.Runs, rep.Problems)
	}
	if _, err := store.GetRun(ctx, run2); tracking.CodeOf(err) != tracking.ResourceDoesNotExist {
		t.Errorf("the broken run is in the store: %v", err)
	}
	if err := os.WriteFile(metric, good, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = mlruns.Import(ctx, store, tree, mlruns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs != 1 || rep.RunsPresent != 4 || len(rep.Problems) != 0 {
		t.Errorf("after the fix: runs %d present %d problems %v", rep.Runs, rep.RunsPresent, rep.Problems)
	}
}

func TestImportNotAStore(t *testing.T) {
	store := openStore(t)
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing")} {
		if _, err := mlruns.Import(t.Context(), store, dir, mlruns.Options{}); err == nil {
			t.Errorf("Import(%s) succeeded", dir)
		}
	}
}
