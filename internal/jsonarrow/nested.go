package jsonarrow

import (
	"github.com/mlship/mlship/internal/jsonscan"
)

// ParseNested reads a JSON value that is a scalar or a rectangular nest of
// lists (what np.array accepts without falling back to dtype=object) into
// out, returning its shape.
func ParseNested(s *jsonscan.Scanner, out Sink) ([]int64, error) {
	var dims []int64 // -1: not known yet
	leaf := -1       // depth at which scalars sit
	setDim := func(depth int, n int64) error {
		for len(dims) <= depth {
			dims = append(dims, -1)
		}
		if dims[depth] == -1 {
			dims[depth] = n
			return nil
		}
		if dims[depth] != n {
			return &ValueError{"nested lists are ragged (sub-lists of different lengths); a tensor must be rectangular"}
		}
		return nil
	}
	var rec func(depth int) error
	rec = func(depth int) error {
		switch s.Peek() {
		case jsonscan.Array:
			if leaf >= 0 && depth >= leaf {
				return &ValueError{"nested lists are ragged (lists and scalars at the same depth); a tensor must be rectangular"}
			}
			var n int64
			if err := s.Array(func(int) error { n++; return rec(depth + 1) }); err != nil {
				return err
			}
			return setDim(depth, n)
		case jsonscan.Object:
			return &ValueError{"a JSON object cannot be a tensor element"}
		}
		if leaf == -1 {
			leaf = depth
		} else if leaf != depth {
			return &ValueError{"nested lists are ragged (lists and scalars at the same depth); a tensor must be rectangular"}
		}
		if len(dims) > depth {
			return &ValueError{"nested lists are ragged (lists and scalars at the same depth); a tensor must be rectangular"}
		}
		return LeafValue(s, out)
	}
	if err := rec(0); err != nil {
		return nil, err
	}
	if leaf >= 0 {
		dims = dims[:min(leaf, len(dims))]
	}
	for i, d := range dims {
		if d < 0 {
			dims[i] = 0
		}
	}
	if dims == nil {
		dims = []int64{}
	}
	return dims, nil
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
