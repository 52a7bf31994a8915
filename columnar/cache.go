package columnar

import (
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
)

// Building Arrow types and schemas allocates (a schema builds a name
// index), and a server builds the same few on every request. These caches
// make them stable values: the same pointers for the same layout, so a
// schema can be reused by comparing pointers instead of deep-comparing
// types.

// listKey identifies a FixedSizeList type over a child type.
type listKey struct {
	n     int32
	child arrow.DataType
}

var listTypes sync.Map // listKey → *arrow.FixedSizeListType

// fixedSizeList returns a shared FixedSizeList type of n non-nullable
// child values. Child types are compared by identity: primitive types are
// package-level singletons in arrow, and list types come from this cache,
// so nested lists are shared too.
func fixedSizeList(n int32, child arrow.DataType) arrow.DataType {
	k := listKey{n, child}
	if t, ok := listTypes.Load(k); ok {
		return t.(*arrow.FixedSizeListType)
	}
	t, _ := listTypes.LoadOrStore(k, arrow.FixedSizeListOfNonNullable(n, child))
	return t.(*arrow.FixedSizeListType)
}

// unbatchedMeta is the metadata of every unbatched tensor field.
var unbatchedMeta = arrow.NewMetadata([]string{MetaUnbatched}, []string{"true"})

// SchemaCache remembers the last schema it built and returns it again
// while the fields are the same (same names, same type values, same
// metadata keys): in steady serving every request has the same layout.
type SchemaCache struct {
	last atomic.Pointer[arrow.Schema]
}

// Schema returns a schema for fields, reusing the cached one when it fits.
func (c *SchemaCache) Schema(fields []arrow.Field, md *arrow.Metadata) *arrow.Schema {
	if s := c.last.Load(); s != nil && sameMeta(s, md) && sameFields(s.Fields(), fields) {
		return s
	}
	s := arrow.NewSchema(fields, md)
	c.last.Store(s)
	return s
}

func sameMeta(s *arrow.Schema, md *arrow.Metadata) bool {
	if md == nil {
		return !s.HasMetadata()
	}
	have := s.Metadata()
	if have.Len() != md.Len() {
		return false
	}
	for i, k := range md.Keys() {
		if have.Keys()[i] != k || have.Values()[i] != md.Values()[i] {
			return false
		}
	}
	return true
}

// sameFields compares names, nullability and type identity (the cheap,
// conservative test: equal types built separately count as different).
func sameFields(a, b []arrow.Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Nullable != b[i].Nullable || a[i].Type != b[i].Type {
			return false
		}
		if a[i].Metadata.Len() != b[i].Metadata.Len() {
			return false
		}
		for j, k := range a[i].Metadata.Keys() {
			if b[i].Metadata.Keys()[j] != k || b[i].Metadata.Values()[j] != a[i].Metadata.Values()[j] {
				return false
			}
		}
	}
	return true
}
