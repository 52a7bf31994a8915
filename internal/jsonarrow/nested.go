package jsonarrow

import (
	"github.com/mlship/mlship/internal/jsonscan"
)

// ParseNested reads a JSON value that is a scalar or a rectangular nest of
// lists (what np.array accepts without falling back to dtype=object) into
// out, returning its shape.
func ParseNested(s *jsonscan.Scanner, out Sink) ([]int64, error) {
	p := nested{s: s, out: out, leaf: -1, dims: make([]int64, 0, 4)}
	if err := p.value(0); err != nil {
		return nil, err
	}
	dims := p.dims
	if p.leaf >= 0 {
		dims = dims[:min(p.leaf, len(dims))]
	}
	for i, d := range dims {
		if d < 0 {
			dims[i] = 0
		}
	}
	return dims, nil
}

// nested is ParseNested's state (a struct rather than closures, which
// would allocate on every call).
type nested struct {
	s    *jsonscan.Scanner
	out  Sink
	dims []int64 // per depth; -1: not known yet
	leaf int     // depth at which scalars sit; -1 until the first
}

var (
	errRaggedLengths = &ValueError{Msg: "nested lists are ragged (sub-lists of different lengths); a tensor must be rectangular"}
	errRaggedDepth   = &ValueError{Msg: "nested lists are ragged (lists and scalars at the same depth); a tensor must be rectangular"}
	errObjectElement = &ValueError{Msg: "a JSON object cannot be a tensor element"}
)

func (p *nested) setDim(depth int, n int64) error {
	for len(p.dims) <= depth {
		p.dims = append(p.dims, -1)
	}
	if p.dims[depth] == -1 {
		p.dims[depth] = n
		return nil
	}
	if p.dims[depth] != n {
		return errRaggedLengths
	}
	return nil
}

func (p *nested) value(depth int) error {
	switch p.s.Peek() {
	case jsonscan.Array:
		if p.leaf >= 0 && depth >= p.leaf {
			return errRaggedDepth
		}
		var n int64
		err := p.s.Array(func(int) error { n++; return p.value(depth + 1) })
		if err != nil {
			return err
		}
		return p.setDim(depth, n)
	case jsonscan.Object:
		return errObjectElement
	}
	if p.leaf == -1 {
		p.leaf = depth
	} else if p.leaf != depth {
		return errRaggedDepth
	}
	if len(p.dims) > depth {
		return errRaggedDepth
	}
	return LeafValue(p.s, p.out)
}

// LeafValue feeds one scalar JSON value to out.
func LeafValue(s *jsonscan.Scanner, out Sink) error {
	switch s.Peek() {
	case jsonscan.Number:
		n, err := s.Number()
		if err != nil {
			return err
		}
		return out.Num(n)
	case jsonscan.String:
		b, err := s.StringBytes()
		if err != nil {
			return err
		}
		return out.Str(b)
	case jsonscan.Bool:
		v, err := s.Bool()
		if err != nil {
			return err
		}
		return out.Bool(v)
	case jsonscan.Null:
		if err := s.Null(); err != nil {
			return err
		}
		return out.Null()
	case jsonscan.Array:
		return Mismatch(out.TypeName(), "a list")
	case jsonscan.Object:
		return Mismatch(out.TypeName(), "an object")
	}
	_, err := s.Skip() // produces the syntax error
	return err
}
