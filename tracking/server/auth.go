package server

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"
)

// basicAuth checks HTTP basic credentials against an htpasswd file's bcrypt
// entries. bcrypt is slow by design (tens of milliseconds per check), and
// clients send the same credentials on every request, so credentials that
// verified once are remembered by their SHA-256 for the life of the server.
type basicAuth struct {
	users map[string][]byte // user → bcrypt hash

	mu       sync.Mutex
	verified map[[sha256.Size]byte]struct{}
}

// maxVerified bounds the remembered credentials; beyond it the set starts
// over (a flood of distinct valid credentials only costs bcrypt again).
const maxVerified = 1024

// dummyHash is compared against when the user is unknown, so an unknown
// user takes as long to refuse as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("mlship"), bcrypt.MinCost)

// loadHTPasswd reads an Apache htpasswd file. Only bcrypt entries
// ($2y$, $2a$, $2b$; `htpasswd -B`) are accepted: the other formats (MD5
// apr1, SHA-1, crypt, plain text) are weak, and a file holding one is
// refused at start-up rather than letting that user fail at every request.
func loadHTPasswd(path string) (*basicAuth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading htpasswd file: %w", err)
	}
	defer f.Close()
	a := &basicAuth{users: map[string][]byte{}, verified: map[[sha256.Size]byte]struct{}{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("htpasswd file %s line %d: want user:hash", path, n)
		}
		if !isBcrypt(hash) {
			return nil, fmt.Errorf("htpasswd file %s line %d: user %q: unsupported password hash (only bcrypt entries, $2y$/$2a$/$2b$, are accepted; create them with `htpasswd -B`)", path, n, user)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("htpasswd file %s line %d: user %q: malformed bcrypt hash: %w", path, n, user, err)
		}
		a.users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading htpasswd file: %w", err)
	}
	if len(a.users) == 0 {
		return nil, fmt.Errorf("htpasswd file %s has no users", path)
	}
	return a, nil
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2y$") || strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$")
}

// check reports whether user and password are valid.
func (a *basicAuth) check(user, password string) bool {
	sum := sha256.Sum256([]byte(user + "\x00" + password))
	a.mu.Lock()
	_, ok := a.verified[sum]
	a.mu.Unlock()
	if ok {
		return true
	}
	hash, known := a.users[user]
	if !known {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	a.mu.Lock()
	if len(a.verified) >= maxVerified {
		clear(a.verified)
	}
	a.verified[sum] = struct{}{}
	a.mu.Unlock()
	return true
}

// unauthenticatedMessage is MLflow's basic-auth refusal.
const unauthenticatedMessage = "You are not authenticated. Please see " +
	"https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate."

// authenticate requires basic auth on every route but /health (under the
// static prefix; probes
// carry no credentials), answering 401 as MLflow's basic-auth app does.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	if s.auth == nil {
		return next
	}
	return func(c echo.Context) error {
		if c.Request().URL.Path == s.opts.StaticPrefix+"/health" {
			return next(c)
		}
		user, pass, ok := c.Request().BasicAuth()
		if !ok || !s.auth.check(user, pass) {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="mlflow"`)
			return c.String(http.StatusUnauthorized, unauthenticatedMessage)
		}
		return next(c)
	}
}
