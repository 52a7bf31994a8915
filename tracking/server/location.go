package server

import (
	"strings"

	"github.com/mlship/mlship/tracking/artifacts"
)

// checkArtifactLocation refuses an experiment artifact location as MLflow's
// create-experiment handler does (since 2.12, CVE-2024-2928): a fragment or
// ;params could make a path that some repositories resolve outside the
// location, and so could a query string that decodes to "..". The parts are
// found as Python's urllib.parse.urlparse finds them, since the messages
// must fall on the same inputs.
func checkArtifactLocation(loc string) error {
	scheme, rest := pyScheme(loc)
	if hash := strings.IndexByte(rest, '#'); hash >= 0 {
		if hash < len(rest)-1 {
			return invalidParam("'artifact_location' URL can't include fragments or params.")
		}
		rest = rest[:hash]
	}
	query := ""
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest, query = rest[:q], rest[q+1:]
	}
	if strings.HasPrefix(rest, "//") { // the netloc holds no params
		if i := strings.IndexByte(rest[2:], '/'); i >= 0 {
			rest = rest[2+i:]
		} else {
			rest = ""
		}
	}
	if pyUsesParams[scheme] { // params: what follows a ';' in the last segment
		seg := rest[strings.LastIndexByte(rest, '/')+1:]
		if semi := strings.IndexByte(seg, ';'); semi >= 0 && semi < len(seg)-1 {
			return invalidParam("'artifact_location' URL can't include fragments or params.")
		}
	}
	if strings.Contains(unquoteAll(query), "..") {
		return invalidParam("Invalid query string")
	}
	return nil
}

// pyUsesParams is urllib.parse.uses_params: the schemes whose last path
// segment may carry ;params.
var pyUsesParams = map[string]bool{"": true, "ftp": true, "hdl": true, "prospero": true, "http": true, "imap": true,
	"https": true, "shttp": true, "rtsp": true, "rtspu": true, "sip": true, "sips": true, "mms": true, "sftp": true, "tel": true}

// pyScheme splits a URL's scheme (lowercased) from the rest as urlsplit
// does, after dropping the tabs and newlines it drops.
func pyScheme(u string) (string, string) {
	u = strings.TrimLeft(u, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	u = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(u)
	i := strings.IndexByte(u, ':')
	if i <= 0 || !isASCIILetter(u[0]) {
		return "", u
	}
	for j := 0; j < i; j++ {
		c := u[j]
		if !isASCIILetter(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return "", u
		}
	}
	return strings.ToLower(u[:i]), u[i+1:]
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// unquoteAll percent-decodes s until it stops changing (at most 10 times),
// leaving malformed escapes as they are, as Python's unquote does.
func unquoteAll(s string) string {
	for range 10 {
		d := artifacts.Unquote(s)
		if d == s {
			break
		}
		s = d
	}
	return s
}
