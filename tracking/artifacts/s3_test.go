package artifacts

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/internal/testenv"
)

// One moto server for the test binary, reset before each test.
var moto testenv.MotoOnce

func TestMain(m *testing.M) {
	code := m.Run()
	moto.Close()
	os.Exit(code)
}

// awsConfig points the SDK at moto with static credentials, as a user's
// MLFLOW_S3_ENDPOINT_URL and AWS_* settings would.
func awsConfig(t *testing.T, endpoint string) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDMLSHIPTEST", "secret", "")),
		config.WithBaseEndpoint(endpoint),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// s3env is one test's bucket in moto and a client of its own, apart from
// the repository under test, for checking what really is in the bucket.
type s3env struct {
	cfg    aws.Config
	client *s3.Client
	bucket string
}

var bucketSeq atomic.Int64

func newS3Env(t *testing.T) *s3env {
	t.Helper()
	srv := moto.Server(t)
	cfg := awsConfig(t, srv.URL)
	e := &s3env{cfg: cfg, bucket: fmt.Sprintf("mlship-artifacts-%d", bucketSeq.Add(1))}
	e.client = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := e.client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(e.bucket)}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *s3env) keys(t *testing.T) []string {
	t.Helper()
	out, err := e.client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// uploadedBytes sums the parts of the multipart uploads in progress for key.
func (e *s3env) uploadedBytes(t *testing.T, key string) int64 {
	ups, err := e.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		t.Error(err)
		return 0
	}
	var n int64
	for _, u := range ups.Uploads {
		if aws.ToString(u.Key) != key {
			continue
		}
		parts, err := e.client.ListParts(t.Context(), &s3.ListPartsInput{
			Bucket: aws.String(e.bucket), Key: u.Key, UploadId: u.UploadId,
		})
		if err != nil {
			t.Error(err)
			return 0
		}
		for _, p := range parts.Parts {
			n += aws.ToInt64(p.Size)
		}
	}
	return n
}

func TestS3(t *testing.T) {
	var e *s3env
	const prefix = "team/mlartifacts"
	repoSuite{
		new: func(t *testing.T) Repository {
			e = newS3Env(t)
			r, err := NewS3(t.Context(), e.bucket, "/"+prefix+"/", e.cfg, WithPartSize(minPartSize))
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		stored: func(t *testing.T, name string) int64 {
			return e.uploadedBytes(t, prefix+"/"+name)
		},
		bigSize: 20 << 20,
		midway:  15 << 20,
	}.run(t)
}

// TestS3Objects checks the keys the repository writes, through a client of
// its own: under the URI's prefix, no directory markers, a multipart object
// whole.
func TestS3Objects(t *testing.T) {
	e := newS3Env(t)
	ctx := t.Context()
	r, err := Open(ctx, "s3://"+e.bucket+"/exp/1/run/artifacts", Options{
		AWSConfig: func(context.Context) (aws.Config, error) { return e.cfg, nil },
		S3:        []S3Option{WithPartSize(minPartSize)},
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, r, "model/MLmodel", "flavors: {}")
	put(t, r, "empty", "")
	big := strings.Repeat("0123456789abcdef", (6<<20)/16) // 6 MiB: two parts
	put(t, r, "big.bin", big)
	if diff := cmp.Diff([]string{"exp/1/run/artifacts/big.bin", "exp/1/run/artifacts/empty", "exp/1/run/artifacts/model/MLmodel"}, e.keys(t)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	out, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("exp/1/run/artifacts/big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || string(b) != big {
		t.Errorf("the multipart object read directly: %d bytes, %v", len(b), err)
	}
	// An object another client wrote, and a directory marker, list as MLflow's do.
	for _, k := range []string{"exp/1/run/artifacts/plots/", "exp/1/run/artifacts/plots/loss.png"} {
		if _, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(k), Body: strings.NewReader("png")}); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]FileInfo{{Path: "plots/loss.png", Size: 3}}, list(t, r, "plots")); diff != "" {
		t.Errorf("List(plots) (-want +got):\n%s", diff)
	}
	if _, err := Open(ctx, "s3://"+e.bucket+"/x", Options{}); err == nil || !strings.Contains(err.Error(), "AWS") {
		t.Errorf("s3:// without an AWS configuration: %v", err)
	}
}

func TestS3FailedMultipartIsAborted(t *testing.T) {
	e := newS3Env(t)
	r, err := NewS3(t.Context(), e.bucket, "p", e.cfg, WithPartSize(minPartSize))
	if err != nil {
		t.Fatal(err)
	}
	err = r.Put(t.Context(), "m.bin", &failingReader{n: 12 << 20}) // two parts, then an error
	if err == nil {
		t.Fatal("Put succeeded")
	}
	ups, err := e.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left behind", len(ups.Uploads))
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("objects after a failed Put: %v", keys)
	}
}

func TestS3NoBucket(t *testing.T) {
	e := newS3Env(t)
	r, err := NewS3(t.Context(), "no-such-bucket", "", e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.List(t.Context(), "")
	if err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("List in a missing bucket: %v", err)
	}
	if err := r.Put(t.Context(), "x", strings.NewReader("x")); err == nil {
		t.Error("Put in a missing bucket succeeded")
	}
}
