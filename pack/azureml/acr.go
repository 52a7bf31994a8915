package azureml

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// ACRUsername is the user name that goes with an ACR refresh token, as
// `az acr login` writes it into the docker config.
const ACRUsername = "00000000-0000-0000-0000-000000000000"

// ACRScope is the Azure AD scope of tokens for Azure Container Registry's
// data plane.
const ACRScope = "https://containerregistry.azure.net/.default"

// ACRAuthenticator is an authn.Authenticator for an Azure Container
// Registry that signs in with Azure AD, as `az acr login` does: it gets an
// AAD access token from a credential, exchanges it at the registry's
// /oauth2/exchange for an ACR refresh token, and hands that to
// go-containerregistry as an identity token (with ACRUsername), which then
// runs the registry's standard token flow (POST /oauth2/token with
// grant_type=refresh_token) for each repository scope.
type ACRAuthenticator struct {
	reg    name.Registry
	cred   azcore.TokenCredential
	tenant string
	scope  string
	client *http.Client

	mu      sync.Mutex
	refresh string
	expires time.Time
}

// ACROptions configure an ACRAuthenticator; the zero value is usable.
type ACROptions struct {
	// Tenant is the Azure AD tenant sent with the exchange (optional).
	Tenant string
	// Scope is the AAD scope requested from the credential (ACRScope when
	// empty).
	Scope string
	// Transport carries the exchange request (http.DefaultTransport when
	// nil).
	Transport http.RoundTripper
}

var (
	_ authn.ContextAuthenticator = (*ACRAuthenticator)(nil)
	_ authn.Keychain             = (*ACRAuthenticator)(nil)
)

// NewACRAuthenticator returns an authenticator for registry reg (for
// example "myacr.azurecr.io"). The exchange goes over https, or plain http
// to a loopback registry (a test).
func NewACRAuthenticator(reg name.Registry, cred azcore.TokenCredential, opts ACROptions) *ACRAuthenticator {
	scope := opts.Scope
	if scope == "" {
		scope = ACRScope
	}
	tr := opts.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	return &ACRAuthenticator{reg: reg, cred: cred, tenant: opts.Tenant, scope: scope,
		client: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// Resolve implements authn.Keychain: the authenticator for its own
// registry, anonymous access elsewhere (a public base image). It lets a
// publisher that takes a keychain (pack.Registry) push to ACR.
func (a *ACRAuthenticator) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == a.reg.RegistryStr() {
		return a, nil
	}
	return authn.Anonymous, nil
}

// Authorization implements authn.Authenticator.
func (a *ACRAuthenticator) Authorization() (*authn.AuthConfig, error) {
	return a.AuthorizationContext(context.Background())
}

// AuthorizationContext implements authn.ContextAuthenticator. The refresh
// token is reused until five minutes before it expires.
func (a *ACRAuthenticator) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refresh == "" || time.Now().Add(5*time.Minute).After(a.expires) {
		tok, exp, err := a.exchange(ctx)
		if err != nil {
			return nil, err
		}
		a.refresh, a.expires = tok, exp
	}
	return &authn.AuthConfig{Username: ACRUsername, IdentityToken: a.refresh}, nil
}

// exchangeURL is https://<registry>/oauth2/exchange.
func (a *ACRAuthenticator) exchangeURL() string {
	scheme := a.reg.Scheme()
	host := a.reg.RegistryStr()
	if scheme == "http" {
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			h = host
		}
		if !isLoopback(h) {
			scheme = "https" // never send an AAD token in the clear
		}
	}
	return scheme + "://" + host + "/oauth2/exchange"
}

// exchange trades an AAD access token for an ACR refresh token.
func (a *ACRAuthenticator) exchange(ctx context.Context) (string, time.Time, error) {
	at, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.scope}, TenantID: a.tenant})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("acr %s: getting an Azure AD token: %w", a.reg.RegistryStr(), err)
	}
	u := a.exchangeURL()
	form := url.Values{
		"grant_type":   {"access_token"},
		"service":      {a.reg.RegistryStr()},
		"access_token": {at.Token},
	}
	if a.tenant != "" {
		form.Set("tenant", a.tenant)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("acr %s: token exchange: %w", a.reg.RegistryStr(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("acr %s: token exchange: %w", a.reg.RegistryStr(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", time.Time{}, fmt.Errorf("acr %s: token exchange: %s: %s", a.reg.RegistryStr(), resp.Status, acrErrorText(body))
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.RefreshToken == "" {
		return "", time.Time{}, fmt.Errorf("acr %s: token exchange: no refresh_token in the answer", a.reg.RegistryStr())
	}
	exp := jwtExpiry(out.RefreshToken)
	if exp.IsZero() {
		exp = at.ExpiresOn
	}
	return out.RefreshToken, exp, nil
}

// acrErrorText is the message of ACR's {"errors": [{code, message}]} body,
// else the body itself, shortened.
func acrErrorText(body []byte) string {
	var e struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		var parts []string
		for _, x := range e.Errors {
			parts = append(parts, strings.TrimPrefix(x.Code+": "+x.Message, ": "))
		}
		return strings.Join(parts, "; ")
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the
// registry verifies its own tokens); zero when there is none.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0)
}

// ACRLoginServer turns an --registry value into the registry's host: a
// bare name "myacr" becomes "myacr.azurecr.io"; a host is kept.
func ACRLoginServer(registry string) (string, error) {
	r := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(registry, "https://"), "http://"), "/")
	if r == "" {
		return "", errors.New("an empty registry name")
	}
	if !strings.ContainsAny(r, ".:") {
		r += ".azurecr.io"
	}
	if _, err := name.NewRegistry(r); err != nil {
		return "", fmt.Errorf("registry %q: %w", registry, err)
	}
	return r, nil
}
