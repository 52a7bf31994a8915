package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/server"
)

// TestS3Artifacts runs the artifact proxy over an S3 destination and lists
// a run whose artifact root is an s3:// URI, against moto's S3.
func TestS3Artifacts(t *testing.T) {
	moto := testenv.Moto(t)
	ctx := t.Context()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDMLSHIPTEST", "secret", "")),
		config.WithBaseEndpoint(moto.URL),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range []string{"dest", "roots"} {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	dest, err := artifacts.NewS3(ctx, "dest", "mlartifacts", cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *server.Options) {
		o.ArtifactsDestination = dest
		o.OpenArtifacts = func(ctx context.Context, uri string) (artifacts.Repository, error) {
			return artifacts.Open(ctx, uri, artifacts.Options{AWSConfig: func(context.Context) (aws.Config, error) { return cfg, nil }, ProxyRoot: dest})
		}
	})

	// The proxy writes under s3://dest/mlartifacts.
	id := str(e.ok(e.post("/api/2.0/mlflow/runs/create", `{}`), "<any>"), "run", "info", "run_id")
	e.ok(e.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/"+id+"/artifacts/model/MLmodel", "application/octet-stream", []byte("flavors: {}\n")), `{}`)
	obj, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dest"), Key: aws.String("mlartifacts/0/" + id + "/artifacts/model/MLmodel")})
	if err != nil || aws.ToInt64(obj.ContentLength) != 12 {
		t.Fatalf("object in the destination: %v, %v", obj, err)
	}
	e.ok(e.get("/api/2.0/mlflow/artifacts/list?run_id="+id),
		`{"root_uri": "mlflow-artifacts:/0/`+id+`/artifacts", "files": [{"path": "model", "is_dir": true}]}`)
	if r := e.get("/api/2.0/mlflow-artifacts/artifacts/0/" + id + "/artifacts/model/MLmodel"); r.status != 200 || string(r.body) != "flavors: {}\n" {
		t.Fatalf("download from S3: %d %q", r.status, r.body)
	}

	// A run whose experiment keeps artifacts in s3://roots/exp.
	exp := str(e.ok(e.post("/api/2.0/mlflow/experiments/create", `{"name": "s3", "artifact_location": "s3://roots/exp"}`), "<any>"), "experiment_id")
	run := e.ok(e.post("/api/2.0/mlflow/runs/create", `{"experiment_id": "`+exp+`"}`), "<any>")
	id2, uri := str(run, "run", "info", "run_id"), str(run, "run", "info", "artifact_uri")
	if uri != "s3://roots/exp/"+id2+"/artifacts" {
		t.Fatalf("artifact uri %q", uri)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("roots"), Key: aws.String("exp/" + id2 + "/artifacts/plots/loss.png"),
		Body: strings.NewReader("PNG")}); err != nil {
		t.Fatal(err)
	}
	e.ok(e.get("/api/2.0/mlflow/artifacts/list?run_id="+id2+"&path=plots"),
		`{"root_uri": "`+uri+`", "files": [{"path": "plots/loss.png", "is_dir": false, "file_size": 3}]}`)
	if r := e.get("/get-artifact?run_id=" + id2 + "&path=plots/loss.png"); r.status != 200 || string(r.body) != "PNG" || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("get-artifact from S3: %d %q %q", r.status, r.body, r.header.Get("Content-Type"))
	}
}
