package azuremltest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ACR puts a real registry (Debian's docker-registry, distribution
// 2.8, configured for token authentication) behind an HTTP front that
// plays Azure Container Registry's token service on the same host:
// /oauth2/exchange trades an Azure AD access token for a refresh token,
// /oauth2/token trades that refresh token for a registry token: a JWT
// signed with a key the registry trusts (rootcertbundle), granting what
// was asked. /v2/ is proxied to the registry, which verifies those JWTs
// itself.
type ACR struct {
	// Host is the login server, 127.0.0.1:port (spoken to over HTTP).
	Host string
	// AADToken is the Azure AD access token the exchange accepts.
	AADToken string
	// Exchanges and Tokens count requests to /oauth2/exchange and
	// /oauth2/token.
	Exchanges, Tokens atomic.Int32

	refresh string

	key  *ecdsa.PrivateKey
	cert []byte // DER

	mu     sync.Mutex
	scopes []string
}

// NewACR starts the registry program bin (Debian's docker-registry) and
// the front, both stopped when the test ends.
func NewACR(t testing.TB, bin string) *ACR {
	t.Helper()
	a := &ACR{AADToken: "aad-token-for-test", refresh: "acr-refresh-" + randHex(8)}
	var err error
	a.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mlship test token signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	a.cert, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &a.key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert}), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "registry.sock")

	// The front listens first: the registry's config names it as realm.
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: "registry"})
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/exchange", a.serveExchange(t))
	mux.HandleFunc("/oauth2/token", a.serveToken(t))
	mux.Handle("/v2/", proxy)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.Host = strings.TrimPrefix(srv.URL, "http://")

	cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  maintenance:
    uploadpurging:
      enabled: false
http:
  net: unix
  addr: %s
  secret: mlship-test-secret
  relativeurls: true
auth:
  token:
    realm: http://%s/oauth2/token
    service: %s
    issuer: mlship-test-acr
    rootcertbundle: %s
`, filepath.Join(dir, "data"), sock, a.Host, a.Host, bundle)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("registry log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("docker-registry exited: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not listen on %s\n%s", sock, logs.String())
		}
	}
	return a
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func acrDenied(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": msg}}})
}

func (a *ACR) serveExchange(t testing.TB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.Exchanges.Add(1)
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			t.Errorf("exchange: %s", r.Method)
			acrDenied(w, "bad request")
			return
		}
		f := r.PostForm
		if f.Get("grant_type") != "access_token" || f.Get("service") != a.Host {
			t.Errorf("exchange form %v", f)
			acrDenied(w, "bad grant or service")
			return
		}
		if f.Get("access_token") != a.AADToken {
			acrDenied(w, "the Azure AD token is not valid")
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"refresh_token": a.refresh})
	}
}

// serveToken is the registry token endpoint (Docker's token spec, OAuth2
// form): it grants the requested scopes to a valid refresh token.
func (a *ACR) serveToken(t testing.TB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.Tokens.Add(1)
		if r.ParseForm() != nil {
			acrDenied(w, "bad form")
			return
		}
		f := r.Form
		if r.Method != http.MethodPost || f.Get("grant_type") != "refresh_token" || f.Get("refresh_token") != a.refresh {
			acrDenied(w, "a valid refresh token is required")
			return
		}
		if f.Get("service") != a.Host {
			t.Errorf("token service %q", f.Get("service"))
		}
		var access []map[string]any
		for _, sc := range strings.Fields(strings.Join(f["scope"], " ")) {
			a.mu.Lock()
			a.scopes = append(a.scopes, sc)
			a.mu.Unlock()
			p := strings.Split(sc, ":")
			if len(p) != 3 {
				continue
			}
			access = append(access, map[string]any{"type": p[0], "name": p[1], "actions": strings.Split(p[2], ",")})
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": a.sign(t, access), "expires_in": 300})
	}
}

// sign makes an ES256 JWT the registry accepts: issuer and audience from
// its config, the signing certificate in the x5c header.
func (a *ACR) sign(t testing.TB, access []map[string]any) string {
	enc := base64.RawURLEncoding.EncodeToString
	hdr, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(a.cert)}})
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": "mlship-test-acr", "sub": "00000000-0000-0000-0000-000000000000", "aud": a.Host,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": randHex(8), "access": access,
	})
	signing := enc(hdr) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, a.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + enc(sig)
}

// Scopes are the scopes granted so far ("repository:NAME:push,pull").
func (a *ACR) Scopes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.scopes...)
}
