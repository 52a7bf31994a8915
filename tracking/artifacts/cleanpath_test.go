package artifacts

import (
	"path"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
)

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", ""},
		{".", ""},
		{"./", ""},
		{"model", "model"},
		{"model/MLmodel", "model/MLmodel"},
		{"model//MLmodel", "model/MLmodel"},
		{"model/./MLmodel", "model/MLmodel"},
		{"model/", "model"},
		{"a/b/c/", "a/b/c"},
		{"..foo/bar..", "..foo/bar.."}, // dots inside a name are just a name
		{"...", "..."},
		{"100%", "100%"},   // an invalid escape is literal text
		{"a%20b", "a%20b"}, // kept as spelt, not decoded
		{"report%2Fq1.txt", "report%2Fq1.txt"},
		{"dir/é.png", "dir/é.png"},
		{"with space/x y", "with space/x y"},
		{"C/x", "C/x"},
		{"ab:c", "ab:c"},
	} {
		got, err := CleanPath(tc.in)
		if err != nil {
			t.Errorf("CleanPath(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("CleanPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCleanPathHostile(t *testing.T) {
	for _, in := range []string{
		"..",
		"../",
		"../etc/passwd",
		"a/../../etc/passwd",
		"a/..",
		"a/b/../c",
		"/etc/passwd",
		"/",
		"//server/share",
		`C:\Windows`,
		"C:/Windows",
		"c:",
		"C:x",
		`a\..\b`,
		`..\..\etc`,
		`a\b`,
		"a\x00b",
		"a/b\x00",
		"a\nb",
		"a\rb",
		"a\x7fb",
		"a#b",
		"file:///etc/passwd",
		"FILE:/etc/passwd",
		"%2e%2e",
		"%2E%2E/etc/passwd",
		"a/%2e%2e/%2e%2e/etc",
		"%252e%252e/etc",                         // double encoded
		"%25252e%25252e/x",                       // triple
		"..%2f..%2fetc",                          // encoded separator
		"%2e%2e%5cetc",                           // encoded backslash
		"%2fetc/passwd",                          // encoded leading slash
		"%00",                                    // encoded NUL
		"a%2500",                                 // double-encoded NUL
		"%23frag",                                // encoded '#'
		"%2e%2e/%",                               // a lenient decoder's "../%"
		"C%3a%5cx",                               // C:\x
		"\xff\xfe",                               // invalid UTF-8
		"%ff",                                    // decodes to invalid UTF-8
		"ok/%" + strings.Repeat("25", 12) + "2e", // still decoding after 10 rounds
	} {
		got, err := CleanPath(in)
		if err == nil {
			t.Errorf("CleanPath(%q) = %q, want an error", in, got)
			continue
		}
		if tracking.CodeOf(err) != tracking.InvalidParameterValue || err.Error() != "Invalid path" {
			t.Errorf("CleanPath(%q): %v (%s), want MLflow's INVALID_PARAMETER_VALUE \"Invalid path\"", in, err, tracking.CodeOf(err))
		}
	}
}

// FuzzCleanPath checks CleanPath's promise on any input: a result is a
// clean relative path that stays under its root however often it is
// decoded again.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"", "a/b", "../x", "%2e%2e", "%252e%252e/x", "/abs", `C:\x`, "a//b/", "a\x00", "100%", "a#b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := CleanPath(in)
		if err != nil {
			return
		}
		again, err := CleanPath(got)
		if err != nil || again != got {
			t.Fatalf("CleanPath(%q) = %q, which cleans to %q, %v", in, got, again, err)
		}
		for cur, i := got, 0; i <= maxDecodeRounds; cur, i = Unquote(cur), i+1 {
			if strings.HasPrefix(cur, "/") || strings.ContainsAny(cur, "\\\x00#") {
				t.Fatalf("CleanPath(%q) = %q: decoding %d times gives %q", in, got, i, cur)
			}
			for _, s := range strings.Split(cur, "/") {
				if s == ".." {
					t.Fatalf("CleanPath(%q) = %q: decoding %d times gives %q", in, got, i, cur)
				}
			}
			if j := path.Join("/root", cur); j != "/root" && !strings.HasPrefix(j, "/root/") {
				t.Fatalf("CleanPath(%q) = %q escapes its root: %q", in, got, j)
			}
		}
		if got != "" && (strings.HasPrefix(got, "/") || strings.HasSuffix(got, "/") || strings.Contains(got, "//")) {
			t.Fatalf("CleanPath(%q) = %q is not clean", in, got)
		}
		for _, s := range strings.Split(got, "/") {
			if s == "." {
				t.Fatalf("CleanPath(%q) = %q holds a '.' segment", in, got)
			}
		}
	})
}
