package azureml

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// fakeJWT is an unsigned token with an exp claim, enough for jwtExpiry.
func fakeJWT(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"exp": exp.Unix()})
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(claims) + ".sig"
}

func TestACRExchangeRequest(t *testing.T) {
	var calls atomic.Int32
	var form url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/oauth2/exchange" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q", ct)
		}
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		form = r.PostForm
		json.NewEncoder(w).Encode(map[string]string{"refresh_token": fakeJWT(time.Now().Add(3 * time.Hour))})
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	reg, err := name.NewRegistry(host)
	if err != nil {
		t.Fatal(err)
	}
	cred := &staticCredential{token: "aad-access-token"}
	a := NewACRAuthenticator(reg, cred, ACROptions{Tenant: "my-tenant"})
	for range 3 {
		cfg, err := a.AuthorizationContext(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != ACRUsername || cfg.IdentityToken == "" || cfg.Password != "" {
			t.Errorf("auth config %+v", cfg)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d exchanges, want 1 (the refresh token is reused until it nears expiry)", n)
	}
	if diff := cmp.Diff(url.Values{
		"grant_type":   {"access_token"},
		"service":      {host},
		"tenant":       {"my-tenant"},
		"access_token": {"aad-access-token"},
	}, form); diff != "" {
		t.Errorf("exchange form (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{ACRScope}, cred.scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

func TestACRExchangeErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required, visit https://aka.ms/acr/authorization"}]}`)
	}))
	defer srv.Close()
	reg, _ := name.NewRegistry(strings.TrimPrefix(srv.URL, "http://"))
	_, err := NewACRAuthenticator(reg, &staticCredential{token: "x"}, ACROptions{}).Authorization()
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized: UNAUTHORIZED: authentication required") {
		t.Errorf("error %v", err)
	}
}

func TestACRExchangeNeverInTheClear(t *testing.T) {
	reg, _ := name.NewRegistry("myacr.azurecr.io", name.Insecure)
	u := NewACRAuthenticator(reg, &staticCredential{}, ACROptions{}).exchangeURL()
	if u != "https://myacr.azurecr.io/oauth2/exchange" {
		t.Error(u)
	}
}

func TestACRLoginServer(t *testing.T) {
	for in, want := range map[string]string{
		"myacr":                     "myacr.azurecr.io",
		"myacr.azurecr.io":          "myacr.azurecr.io",
		"https://myacr.azurecr.io/": "myacr.azurecr.io",
		"127.0.0.1:5000":            "127.0.0.1:5000",
	} {
		if got, err := ACRLoginServer(in); err != nil || got != want {
			t.Errorf("ACRLoginServer(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ACRLoginServer(""); err == nil {
		t.Error("empty accepted")
	}
}

func TestJWTExpiry(t *testing.T) {
	exp := time.Unix(1900000000, 0)
	if got := jwtExpiry(fakeJWT(exp)); !got.Equal(exp) {
		t.Errorf("got %v", got)
	}
	if !jwtExpiry("opaque").IsZero() {
		t.Error("opaque token has an expiry")
	}
}

func TestACRKeychain(t *testing.T) {
	reg, _ := name.NewRegistry("myacr.azurecr.io")
	a := NewACRAuthenticator(reg, &staticCredential{}, ACROptions{})
	own, _ := name.NewRepository("myacr.azurecr.io/mlship/iris")
	other, _ := name.NewRepository("docker.io/library/debian")
	if got, err := a.Resolve(own); err != nil || got != a {
		t.Errorf("own registry: %v %v", got, err)
	}
	if got, err := a.Resolve(other); err != nil || got != authn.Anonymous {
		t.Errorf("other registry: %v %v", got, err)
	}
}
