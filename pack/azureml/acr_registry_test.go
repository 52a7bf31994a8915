package azureml

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/pack/azureml/azuremltest"
)

func newACR(t *testing.T) *azuremltest.ACR {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		testenv.Missing(t, "the registry test needs Debian's docker-registry: apt-get install -y --no-install-recommends docker-registry")
	}
	return azuremltest.NewACR(t, bin)
}

func TestPushToRegistryWithACRTokenExchange(t *testing.T) {
	acr := newACR(t)
	ctx := t.Context()
	reg, err := name.NewRegistry(acr.Host)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(acr.Host + "/mlship/iris:v1")
	if err != nil {
		t.Fatal(err)
	}
	auth := NewACRAuthenticator(reg, &staticCredential{token: acr.AADToken}, ACROptions{})
	// As a keychain, the way pack.Registry takes credentials.
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(auth), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	dig := ref.Context().Digest(want.String())

	// Pulled back through the same authentication, the image is whole.
	got, err := remote.Image(dig, remote.WithAuth(auth), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("pulled image: %v", err)
	}
	if n := acr.Exchanges.Load(); n != 1 {
		t.Errorf("%d token exchanges, want 1", n)
	}
	scopes := strings.Join(acr.Scopes(), " ")
	if !strings.Contains(scopes, "repository:mlship/iris:push,pull") {
		t.Errorf("scopes granted: %s", scopes)
	}

	// The registry enforces the tokens: anonymous pulls and a bad Azure
	// AD token are refused.
	if _, err := remote.Image(dig, remote.WithContext(ctx)); err == nil {
		t.Error("anonymous pull succeeded")
	}
	bad := NewACRAuthenticator(reg, &staticCredential{token: "not-the-aad-token"}, ACROptions{})
	if err := remote.Write(ref, img, remote.WithAuth(bad), remote.WithContext(ctx)); err == nil || !strings.Contains(err.Error(), "the Azure AD token is not valid") {
		t.Errorf("push with a bad AAD token: %v", err)
	}
}
