package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzHTPasswd: any htpasswd file loads or is refused without panicking,
// and what loads holds only bcrypt entries.
func FuzzHTPasswd(f *testing.F) {
	for _, s := range []string{
		"alice:$2y$04$C5Qb7yJ6l3N2y1cRz0r6Le3gH0c8q9bq3mW6Zl1kU7n8v0qYw1Hq2\n",
		"# c\n\nbob:$apr1$x$y\n", "carol\n", ":$2y$04$\n", "d:$2a$", "e:$2b$99$" + strings.Repeat("a", 53),
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := loadHTPasswd(path)
		if err != nil {
			return
		}
		if len(a.users) == 0 {
			t.Fatal("loaded a file without users")
		}
		for u, h := range a.users {
			if u == "" || !isBcrypt(string(h)) {
				t.Fatalf("loaded user %q with hash %q", u, h)
			}
		}
		if a.check("nobody-"+content, "x") {
			t.Fatal("an unknown user passed")
		}
	})
}
