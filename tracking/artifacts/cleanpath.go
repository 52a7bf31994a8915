package artifacts

import (
	"path"
	"strings"
	"unicode/utf8"

	"github.com/mlship/mlship/tracking"
)

// maxDecodeRounds bounds the percent-decoding CleanPath applies while
// looking for hidden traversal, as MLflow's _decode does (10 rounds).
const maxDecodeRounds = 10

// invalidPath is MLflow's answer to an unsafe artifact path
// (mlflow.utils.uri.validate_path_is_safe: 400 INVALID_PARAMETER_VALUE,
// "Invalid path"), so a client sees the same error from mlship.
func invalidPath() error {
	return tracking.Errorf(tracking.InvalidParameterValue, "Invalid path")
}

// CleanPath is the one gate every artifact path goes through (server,
// UI, client, repositories). It takes a path that has already been
// URL-decoded once and returns it as a clean relative slash path: empty
// and "." segments and a trailing slash dropped, "" for the root.
//
// It rejects, with MLflow's 400 "Invalid path", a path that is absolute
// ("/etc/passwd", "C:/x", "file:///x"), holds a ".." segment, a backslash,
// a NUL or other control character, a '#', or invalid UTF-8 — and the same
// in any further percent-decoding of it ("%2e%2e", "%252e%252e"), since
// some layer between a client and a repository may decode again. The
// result is the input's own spelling, not a decoded one: a file may well
// be called "100%" or "a%20b".
func CleanPath(p string) (string, error) {
	cur := p
	for round := 0; ; round++ {
		if err := checkUnsafe(cur); err != nil {
			return "", err
		}
		next := Unquote(cur)
		if next == cur {
			break
		}
		if round == maxDecodeRounds {
			// Still decoding: nobody names a file like that but an attacker.
			return "", invalidPath()
		}
		cur = next
	}
	segs := strings.Split(p, "/")
	out := segs[:0]
	for _, s := range segs {
		if s == "" || s == "." {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, "/"), nil
}

// checkUnsafe rejects one decoding of a path.
func checkUnsafe(p string) error {
	if !utf8.ValidString(p) {
		return invalidPath()
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' || r == '#' {
			return invalidPath()
		}
	}
	if strings.HasPrefix(p, "/") {
		return invalidPath()
	}
	if len(p) >= 2 && p[1] == ':' && isASCIILetter(p[0]) { // C:, C:/x, C:x
		return invalidPath()
	}
	if len(p) >= 5 && strings.EqualFold(p[:5], "file:") {
		return invalidPath()
	}
	for _, s := range strings.Split(p, "/") {
		if s == ".." {
			return invalidPath()
		}
	}
	return nil
}

// Unquote decodes every valid %XX escape of s once and leaves the rest
// as it is, as lenient decoders (Python's urllib.parse.unquote) do:
// "%2e%2e/%" is "../%". The server's artifact-location check decodes
// with it too, so both find the same hidden "..".
func Unquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func isASCIILetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// join joins cleaned relative paths ("" is the root) with "/".
func join(elem ...string) string {
	var parts []string
	for _, e := range elem {
		if e != "" {
			parts = append(parts, e)
		}
	}
	return path.Join(parts...)
}
