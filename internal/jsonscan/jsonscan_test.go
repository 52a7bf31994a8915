package jsonscan

import (
	"strings"
	"testing"
)

// TestDepthAfterError: a failed scan must leave the nesting count where it
// was, or a scanner reused after the error would hit MaxDepth early.
func TestDepthAfterError(t *testing.T) {
	for _, doc := range []string{
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1),
		"[[1, x]]",
	} {
		s := New([]byte(doc))
		if _, err := s.Skip(); err == nil {
			t.Fatalf("Skip(%.20q...) succeeded, want an error", doc)
		}
		if s.depth != 0 {
			t.Errorf("after the error on %.20q..., depth = %d, want 0", doc, s.depth)
		}
	}
}
