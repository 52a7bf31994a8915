package sagemaker_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mlship/mlship/pack/sagemaker"
)

// TestPushImage: the ECR steps of MLflow's push_image_to_ecr — the
// account, the repository (created once), the authorization token — and a
// push that the registry accepts only with the token's credentials. moto's
// ECR has no registry, so a real one (go-containerregistry's) stands in
// for the account's ECR host.
func TestPushImage(t *testing.T) {
	e := newEnv(t)
	tok, err := e.ecr().GetAuthorizationToken(t.Context(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	user, pass := decodeToken(t, aws.ToString(tok.AuthorizationData[0].AuthorizationToken))
	reg := httptest.NewServer(basicAuth(user, pass, registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")

	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(sagemaker.Options{})
	ref, err := c.PushImage(t.Context(), img, sagemaker.PushConfig{Registry: host})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "first push", e.proxy.calls(), []string{
		"sts:GetCallerIdentity", "ecr:DescribeRepositories", "ecr:CreateRepository", "ecr:GetAuthorizationToken",
	})
	want, _ := img.Digest()
	if ref.DigestStr() != want.String() || ref.Context().String() != host+"/mlship" {
		t.Errorf("pushed %s, want %s/mlship@%s", ref, host, want)
	}
	pulled, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := pulled.Digest(); got != want {
		t.Errorf("pulled %s", got)
	}
	tagged, err := remote.Head(ref.Context().Tag("1.0.0"), remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	if err != nil || tagged.Digest != want {
		t.Errorf("tag 1.0.0: %v %v", tagged, err)
	}
	url, err := c.DefaultImageURL(t.Context())
	if err != nil || url != testAccount+".dkr.ecr.us-west-2.amazonaws.com/mlship:1.0.0" {
		t.Errorf("default image %q, %v", url, err)
	}

	// The repository exists now; a push under another tag only looks it up.
	e.proxy.calls()
	if _, err := c.PushImage(t.Context(), img, sagemaker.PushConfig{Registry: host, Tag: "v2"}); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "second push", e.proxy.calls(), []string{
		"sts:GetCallerIdentity", "ecr:DescribeRepositories", "ecr:GetAuthorizationToken",
	})
}

// TestPushImageRejected: a registry that refuses the credentials fails
// the push with the registry's error.
func TestPushImageRejected(t *testing.T) {
	e := newEnv(t)
	reg := httptest.NewServer(basicAuth("AWS", "another-password", registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(reg.Close)
	img, _ := random.Image(64, 1)
	_, err := e.client(sagemaker.Options{}).PushImage(t.Context(), img, sagemaker.PushConfig{
		Registry: strings.TrimPrefix(reg.URL, "http://"), Repository: "models/iris",
	})
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("push with wrong credentials: %v", err)
	}
}

func decodeToken(t *testing.T, tok string) (user, pass string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Basic "+tok)
	user, pass, ok := req.BasicAuth()
	if !ok {
		t.Fatalf("token %q is not base64 user:password", tok)
	}
	return user, pass
}

// basicAuth answers like a registry that wants Basic credentials.
func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="ecr"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}
