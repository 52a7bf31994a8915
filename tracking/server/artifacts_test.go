package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking/server"
)

func TestArtifactProxy(t *testing.T) {
	e := newEnv(t, nil)
	base := "/api/2.0/mlflow-artifacts/artifacts"
	put := func(p, content string) {
		t.Helper()
		e.ok(e.do("PUT", base+"/"+p, "application/octet-stream", []byte(content)), `{}`)
	}
	put("1/abc/artifacts/model/MLmodel", "flavors: {}\n")
	put("1/abc/artifacts/model/model.onnx", "ONNX")
	put("1/abc/artifacts/notes.txt", "hello")
	if b, err := os.ReadFile(filepath.Join(e.dest, "1/abc/artifacts/model/model.onnx")); err != nil || string(b) != "ONNX" {
		t.Fatalf("uploaded file: %q, %v", b, err)
	}

	r := e.get(base + "/1/abc/artifacts/notes.txt")
	if r.status != 200 || string(r.body) != "hello" {
		t.Fatalf("download: %d %q", r.status, r.body)
	}
	if cd := r.header.Get("Content-Disposition"); cd != "attachment; filename=notes.txt" {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("Content-Type %q, nosniff %q", ct, r.header.Get("X-Content-Type-Options"))
	}
	e.ok(e.get(base+"?path=1/abc/artifacts"), `{"files": [{"path": "model", "is_dir": true}, {"path": "notes.txt", "is_dir": false, "file_size": 5}]}`)
	e.ok(e.get("/ajax-api/2.0/mlflow-artifacts/artifacts?path=1/abc/artifacts/model"),
		`{"files": [{"path": "MLmodel", "is_dir": false, "file_size": 12}, {"path": "model.onnx", "is_dir": false, "file_size": 4}]}`)
	e.ok(e.get(base+"?path=nothing/here"), `{}`)
	e.ok(e.do("DELETE", base+"/1/abc/artifacts/notes.txt", "", nil), `{}`)
	e.fails(e.post("/api/2.0/mlflow-artifacts/mpu/create/1/abc/artifacts/big.bin", `{"path": "big.bin", "num_parts": 2}`),
		501, "NOT_IMPLEMENTED", "Multipart upload is not supported for the current artifact repository")
	e.fails(e.post("/api/2.0/mlflow-artifacts/mpu/abort/..%2fx", `{"path": "x"}`), 400, "INVALID_PARAMETER_VALUE", "Invalid path")
	e.fails(e.get(base+"/1/abc/artifacts/notes.txt"), 404, "RESOURCE_DOES_NOT_EXIST", "Artifact '1/abc/artifacts/notes.txt' not found")
}

// TestRunArtifacts lists and downloads a run's artifacts through
// artifacts/list and /get-artifact, for a proxied root and a local one.
func TestRunArtifacts(t *testing.T) {
	e := newEnv(t, nil)
	runInfo := func(body string) (id, uri string) {
		m := e.ok(e.post("/api/2.0/mlflow/runs/create", body), "<any>")
		return str(m, "run", "info", "run_id"), str(m, "run", "info", "artifact_uri")
	}

	// Proxied: mlflow-artifacts:/0/<id>/artifacts under the destination.
	id, uri := runInfo(`{}`)
	if uri != "mlflow-artifacts:/0/"+id+"/artifacts" {
		t.Fatalf("artifact uri %q", uri)
	}
	e.ok(e.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/"+id+"/artifacts/model/MLmodel", "application/octet-stream", []byte("run_id: x\n")), `{}`)
	e.ok(e.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/"+id+"/artifacts/metrics.json", "application/octet-stream", []byte("{}")), `{}`)
	e.ok(e.get("/api/2.0/mlflow/artifacts/list?run_id="+id),
		`{"root_uri": "`+uri+`", "files": [{"path": "metrics.json", "is_dir": false, "file_size": 2}, {"path": "model", "is_dir": true}]}`)
	e.ok(e.get("/api/2.0/mlflow/artifacts/list?run_id="+id+"&path=model"),
		`{"root_uri": "`+uri+`", "files": [{"path": "model/MLmodel", "is_dir": false, "file_size": 10}]}`)
	e.ok(e.get("/api/2.0/mlflow/artifacts/list?run_uuid="+id+"&path=missing"), `{"root_uri": "`+uri+`"}`)
	r := e.get("/get-artifact?run_id=" + id + "&path=model/MLmodel")
	if r.status != 200 || string(r.body) != "run_id: x\n" || r.header.Get("Content-Disposition") != "attachment; filename=MLmodel" {
		t.Fatalf("get-artifact: %d %q %v", r.status, r.body, r.header)
	}

	// A local artifact root: the experiment's location on disk.
	root := t.TempDir()
	exp := str(e.ok(e.post("/api/2.0/mlflow/experiments/create", `{"name": "local", "artifact_location": "`+root+`"}`), "<any>"), "experiment_id")
	id2, uri2 := runInfo(`{"experiment_id": "` + exp + `"}`)
	if uri2 != root+"/"+id2+"/artifacts" {
		t.Fatalf("local artifact uri %q", uri2)
	}
	writeFile(t, filepath.Join(root, id2, "artifacts", "data", "x.csv"), "a,b\n")
	e.ok(e.get("/api/2.0/mlflow/artifacts/list?run_id="+id2+"&path=data"),
		`{"root_uri": "`+uri2+`", "files": [{"path": "data/x.csv", "is_dir": false, "file_size": 4}]}`)
	if r := e.get("/get-artifact?run_id=" + id2 + "&path=data/x.csv"); r.status != 200 || string(r.body) != "a,b\n" || r.header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("local get-artifact: %d %q %q", r.status, r.body, r.header.Get("Content-Type"))
	}
	e.fails(e.get("/get-artifact?run_id="+id2+"&path=data/none.csv"), 404, "RESOURCE_DOES_NOT_EXIST", "Artifact 'data/none.csv' not found")
	e.fails(e.get("/get-artifact?run_id="+id2), 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'path'."+docs)
	e.fails(e.get("/get-artifact?run_id=nope&path=a"), 404, "RESOURCE_DOES_NOT_EXIST", "Run 'nope' not found")
	e.fails(e.get("/api/2.0/mlflow/artifacts/list?path=a"), 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'."+docs)
}

// TestArtifactTraversal sends paths that try to leave the artifact root
// to every artifact endpoint: each gets MLflow's 400 "Invalid path" and
// nothing is written or read outside the root.
func TestArtifactTraversal(t *testing.T) {
	e := newEnv(t, nil)
	id := str(e.ok(e.post("/api/2.0/mlflow/runs/create", `{}`), "<any>"), "run", "info", "run_id")
	secret := filepath.Join(e.dir, "secret.txt")
	writeFile(t, secret, "secret")
	e.ok(e.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/ok.txt", "application/octet-stream", []byte("ok")), `{}`)

	hostile := []string{
		"../secret.txt",
		"0/../../secret.txt",
		"%2e%2e/secret.txt",
		"%2e%2e%2fsecret.txt",
		"0%2f..%2f..%2fsecret.txt",
		"%252e%252e%252fsecret.txt",
		"%25252e%25252e/secret.txt",
		"/" + strings.TrimPrefix(secret, "/"),
		"%2F" + strings.TrimPrefix(secret, "/"),
		"..%5csecret.txt",
		"0%5c..%5c..%5csecret.txt",
		"C:%5cwindows",
		"file:%2F%2F%2Fetc%2Fpasswd",
		"0/%00/x",
		"0/a%23b",
	}
	for _, p := range hostile {
		t.Run(p, func(t *testing.T) {
			e.t = t
			const msg = "Invalid path"
			proxy := "/api/2.0/mlflow-artifacts/artifacts/" + p
			e.fails(e.get(proxy), 400, "INVALID_PARAMETER_VALUE", msg)
			e.fails(e.do("PUT", proxy, "application/octet-stream", []byte("pwned")), 400, "INVALID_PARAMETER_VALUE", msg)
			e.fails(e.do("DELETE", proxy, "", nil), 400, "INVALID_PARAMETER_VALUE", msg)
			e.fails(e.get("/api/2.0/mlflow-artifacts/artifacts?path="+p), 400, "INVALID_PARAMETER_VALUE", msg)
			e.fails(e.get("/api/2.0/mlflow/artifacts/list?run_id="+id+"&path="+p), 400, "INVALID_PARAMETER_VALUE", msg)
			e.fails(e.get("/get-artifact?run_id="+id+"&path="+p), 400, "INVALID_PARAMETER_VALUE", msg)
		})
	}
	e.t = t
	if b, err := os.ReadFile(secret); err != nil || string(b) != "secret" {
		t.Fatalf("the file outside the root changed: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(e.dir)
	for _, en := range entries {
		if n := en.Name(); n != "secret.txt" && n != "mlartifacts" && !strings.HasPrefix(n, "mlflow.db") {
			t.Errorf("unexpected file %s next to the artifact root", n)
		}
	}
	if r := e.get("/api/2.0/mlflow-artifacts/artifacts/0/ok.txt"); string(r.body) != "ok" {
		t.Fatalf("the root's own file: %q", r.body)
	}
}

func TestNoServeArtifacts(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.ServeArtifacts = false })
	for _, tc := range []struct{ method, path, route string }{
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/a.txt", "/api/2.0/mlflow-artifacts/artifacts/<path:artifact_path>"},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/a.txt", "/api/2.0/mlflow-artifacts/artifacts/<path:artifact_path>"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=a", "/api/2.0/mlflow-artifacts/artifacts"},
	} {
		r := e.do(tc.method, tc.path, "application/octet-stream", []byte("x"))
		want := "Endpoint: " + tc.route + " disabled due to the mlflow server running with `--no-serve-artifacts`. To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`"
		if r.status != 503 || string(r.body) != want {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, r.status, r.body)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dest, "a.txt")); !os.IsNotExist(err) {
		t.Fatalf("an upload went through with the proxy off: %v", err)
	}
}

// TestProxyUploadBelowAFile: an upload whose path runs through an existing
// file is refused as the client's mistake (400), and the file is kept.
func TestProxyUploadBelowAFile(t *testing.T) {
	e := newEnv(t, nil)
	base := "/api/2.0/mlflow-artifacts/artifacts/0/run/artifacts"
	e.ok(e.do("PUT", base+"/model", "application/octet-stream", []byte("a file")), `{}`)
	e.fails(e.do("PUT", base+"/model/MLmodel", "application/octet-stream", []byte("x")), 400, "INVALID_PARAMETER_VALUE",
		"Cannot write artifact '0/run/artifacts/model/MLmodel': '0/run/artifacts/model' is a file, not a directory")
	if r := e.get(base + "/model"); r.status != 200 || string(r.body) != "a file" {
		t.Errorf("the file after the refused upload: %d %q", r.status, r.body)
	}
}
