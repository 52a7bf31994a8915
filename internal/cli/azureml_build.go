package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/mlship/mlship/pack"
	"github.com/mlship/mlship/pack/azureml"
)

// buildAndPushToACR builds the model's image as build-docker does and
// pushes it to the Azure Container Registry in --registry, signing in with
// the Azure AD credential through ACR's token exchange. It returns the
// image's digest reference.
func buildAndPushToACR(ctx context.Context, d *deps, o *azuremlDeployOptions, cred azcore.TokenCredential) (string, error) {
	log := d.logger()
	host, err := azureml.ACRLoginServer(o.registry)
	if err != nil {
		return "", fmt.Errorf("--registry: %w", err)
	}
	repo := o.repository
	if repo == "" {
		repo = "mlship/" + strings.ToLower(o.endpoint)
	}
	tag := o.tag
	if tag == "" {
		tag = o.deployment
	}
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		return "", fmt.Errorf("image name: %w", err)
	}
	acr := azureml.NewACRAuthenticator(ref.Context().Registry, cred, azureml.ACROptions{Tenant: o.tenant})
	// The ACR credential for the registry itself, the docker config for a
	// base image elsewhere.
	kc := authn.NewMultiKeychain(acr, authn.DefaultKeychain)
	base := o.base
	if base == "" {
		base = pack.BaseHost
	}
	img, err := pack.Build(ctx, pack.Options{
		Model:    o.model,
		Flavor:   o.flavor,
		Base:     base,
		Version:  Version(),
		Getenv:   d.env.get,
		CacheDir: d.env.cacheDir(),
		Keychain: kc,
		Logger:   log,
	})
	if err != nil {
		return "", err
	}
	dig, err := (&pack.Registry{Keychain: kc, Logger: log}).Publish(ctx, img, ref)
	if err != nil {
		return "", err
	}
	return dig.String(), nil
}
