package tf2onnx

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/internal/tfpb"
)

// nhwc is a float tensor in TensorFlow's layout.
type nhwc struct {
	n, h, w, c int
	v          []float64
}

func (x nhwc) at(b, i, j, k int) float64 { return x.v[((b*x.h+i)*x.w+j)*x.c+k] }

// padBefore is TensorFlow's SAME padding before the first cell.
func padBefore(in, k, s, d int) (out, before int) {
	ek := (k-1)*d + 1
	out = (in + s - 1) / s
	total := max((out-1)*s+ek-in, 0)
	return out, total / 2
}

// refConv is a direct NHWC convolution with filter [KH, KW, Cin, Cout].
func refConv(x nhwc, f []float64, kh, kw, cout, s int, same bool) nhwc {
	oh, ow, ph, pw := (x.h-kh)/s+1, (x.w-kw)/s+1, 0, 0
	if same {
		oh, ph = padBefore(x.h, kh, s, 1)
		ow, pw = padBefore(x.w, kw, s, 1)
	}
	y := nhwc{x.n, oh, ow, cout, make([]float64, x.n*oh*ow*cout)}
	for b := 0; b < x.n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for o := 0; o < cout; o++ {
					sum := 0.0
					for di := 0; di < kh; di++ {
						for dj := 0; dj < kw; dj++ {
							ii, jj := i*s+di-ph, j*s+dj-pw
							if ii < 0 || jj < 0 || ii >= x.h || jj >= x.w {
								continue
							}
							for c := 0; c < x.c; c++ {
								sum += x.at(b, ii, jj, c) * f[((di*kw+dj)*x.c+c)*cout+o]
							}
						}
					}
					y.v[((b*oh+i)*ow+j)*cout+o] = sum
				}
			}
		}
	}
	return y
}

// refPool is max or average pooling; the average leaves padding out.
func refPool(x nhwc, k, s int, same, avg bool) nhwc {
	oh, ow, ph, pw := (x.h-k)/s+1, (x.w-k)/s+1, 0, 0
	if same {
		oh, ph = padBefore(x.h, k, s, 1)
		ow, pw = padBefore(x.w, k, s, 1)
	}
	y := nhwc{x.n, oh, ow, x.c, make([]float64, x.n*oh*ow*x.c)}
	for b := 0; b < x.n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for c := 0; c < x.c; c++ {
					acc, cnt := math.Inf(-1), 0
					if avg {
						acc = 0
					}
					for di := 0; di < k; di++ {
						for dj := 0; dj < k; dj++ {
							ii, jj := i*s+di-ph, j*s+dj-pw
							if ii < 0 || jj < 0 || ii >= x.h || jj >= x.w {
								continue
							}
							v := x.at(b, ii, jj, c)
							if avg {
								acc += v
							} else {
								acc = math.Max(acc, v)
							}
							cnt++
						}
					}
					if avg {
						acc /= float64(cnt)
					}
					y.v[((b*oh+i)*ow+j)*x.c+c] = acc
				}
			}
		}
	}
	return y
}

// refDepthwise: output channel c*M+m sums x[..c] under filter[.., c, m].
func refDepthwise(x nhwc, f []float64, k, m int) nhwc {
	oh, ph := padBefore(x.h, k, 1, 1)
	ow, pw := padBefore(x.w, k, 1, 1)
	y := nhwc{x.n, oh, ow, x.c * m, make([]float64, x.n*oh*ow*x.c*m)}
	for b := 0; b < x.n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for c := 0; c < x.c; c++ {
					for q := 0; q < m; q++ {
						sum := 0.0
						for di := 0; di < k; di++ {
							for dj := 0; dj < k; dj++ {
								ii, jj := i+di-ph, j+dj-pw
								if ii < 0 || jj < 0 || ii >= x.h || jj >= x.w {
									continue
								}
								sum += x.at(b, ii, jj, c) * f[((di*k+dj)*x.c+c)*m+q]
							}
						}
						y.v[((b*oh+i)*ow+j)*x.c*m+c*m+q] = sum
					}
				}
			}
		}
	}
	return y
}

// refPad pads H by (t, b) and W by (l, r): with zeros, or reflecting.
func refPad(x nhwc, pt, pb, pl, pr int, reflect bool) nhwc {
	h, w := x.h+pt+pb, x.w+pl+pr
	y := nhwc{x.n, h, w, x.c, make([]float64, x.n*h*w*x.c)}
	idx := func(i, n int) (int, bool) {
		if i >= 0 && i < n {
			return i, true
		}
		if !reflect {
			return 0, false
		}
		if i < 0 {
			return -i, true
		}
		return 2*(n-1) - i, true
	}
	for b := 0; b < x.n; b++ {
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				ii, ok1 := idx(i-pt, x.h)
				jj, ok2 := idx(j-pl, x.w)
				for c := 0; c < x.c; c++ {
					if ok1 && ok2 {
						y.v[((b*h+i)*w+j)*x.c+c] = x.at(b, ii, jj, c)
					}
				}
			}
		}
	}
	return y
}

func attrS(s string) *tfpb.AttrValue { return &tfpb.AttrValue{Value: &tfpb.AttrValue_S{S: []byte(s)}} }

func TestConvAndPoolOnONNXRuntime(t *testing.T) {
	getenv, cache := testenv.ONNXRuntime(t)
	x := nhwc{2, 7, 6, 2, make([]float64, 2*7*6*2)}
	for i := range x.v {
		x.v[i] = float64(float32(math.Sin(float64(i)*0.7) * 2))
	}
	filter := make([]float32, 3*3*2*3)
	f64 := make([]float64, len(filter))
	for i := range filter {
		filter[i] = float32(math.Cos(float64(i))) / 2
		f64[i] = float64(filter[i])
	}
	gamma, beta, mean, variance := []float32{1.5, 0.5}, []float32{0.1, -0.2}, []float32{0.3, -0.4}, []float32{2, 0.25}
	nodes := []*tfpb.NodeDef{
		nd("x", "Placeholder", nil, "dtype", tf32),
		constF("filter", []int64{3, 3, 2, 3}, filter...),
		nd("conv_same", "Conv2D", []string{"x", "filter"}, "T", tf32, "strides", attrInts(1, 2, 2, 1), "padding", attrS("SAME")),
		nd("conv_valid", "Conv2D", []string{"x", "filter"}, "T", tf32, "strides", attrInts(1, 1, 1, 1), "padding", attrS("VALID"), "data_format", attrS("NHWC")),
		nd("max", "MaxPool", []string{"x"}, "T", tf32, "ksize", attrInts(1, 2, 2, 1), "strides", attrInts(1, 2, 2, 1), "padding", attrS("VALID")),
		nd("avg", "AvgPool", []string{"x"}, "T", tf32, "ksize", attrInts(1, 3, 3, 1), "strides", attrInts(1, 2, 2, 1), "padding", attrS("SAME")),
		constF("gamma", []int64{2}, gamma...), constF("beta", []int64{2}, beta...), constF("mean", []int64{2}, mean...), constF("var", []int64{2}, variance...),
		constF("dwfilter", []int64{3, 3, 2, 2}, filter[:36]...),
		nd("dw", "DepthwiseConv2dNative", []string{"x", "dwfilter"}, "T", tf32, "strides", attrInts(1, 1, 1, 1), "padding", attrS("SAME")),
		constI("paddings", []int64{4, 2}, 0, 0, 1, 2, 0, 1, 0, 0),
		nd("pad", "Pad", []string{"x", "paddings"}, "T", tf32, "Tpaddings", ti32),
		constI("mpaddings", []int64{4, 2}, 0, 0, 1, 1, 2, 1, 0, 0),
		nd("mirror", "MirrorPad", []string{"x", "mpaddings"}, "T", tf32, "Tpaddings", ti32, "mode", attrS("REFLECT")),
		nd("bn", "FusedBatchNormV3", []string{"x", "gamma", "beta", "mean", "var"}, "T", tf32, "U", tf32,
			"epsilon", &tfpb.AttrValue{Value: &tfpb.AttrValue_F{F: 0.001}}, "is_training", attrBool(false)),
	}
	io4 := func(name string) IO {
		return IO{Name: name, Tensor: name + ":0", DType: tfpb.DataType_DT_FLOAT, Shape: []int64{-1, -1, -1, -1}}
	}
	sig := Signature{Key: "cnn", Inputs: []IO{io4("x")}, Outputs: []IO{io4("conv_same"), io4("conv_valid"), io4("max"), io4("avg"), io4("bn"),
		io4("dw"), io4("pad"), io4("mirror")}}
	model, err := Convert(graphOf(nodes), sig, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := proto.Marshal(model)
	path := filepath.Join(t.TempDir(), "cnn.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := onnx.LoadFile(context.Background(), path, nil, flavors.LoadOptions{Getenv: getenv, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer p.(io.Closer).Close()

	fb := array.NewFloat32Builder(memory.DefaultAllocator)
	for _, v := range x.v {
		fb.Append(float32(v))
	}
	vals := fb.NewArray()
	fb.Release()
	field, col, err := columnar.NewTensorColumn("x", []int64{2, 7, 6, 2}, vals, true)
	vals.Release()
	if err != nil {
		t.Fatal(err)
	}
	in := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{field}, nil), []arrow.Array{col}, 2)
	col.Release()
	defer in.Release()
	out, err := p.Predict(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()

	bn := nhwc{x.n, x.h, x.w, x.c, make([]float64, len(x.v))}
	for i, v := range x.v {
		c := i % 2
		bn.v[i] = (v-float64(mean[c]))*float64(gamma[c])/math.Sqrt(float64(variance[c])+float64(float32(0.001))) + float64(beta[c])
	}
	want := map[string]nhwc{
		"conv_same":  refConv(x, f64, 3, 3, 3, 2, true),
		"conv_valid": refConv(x, f64, 3, 3, 3, 1, false),
		"max":        refPool(x, 2, 2, false, false),
		"avg":        refPool(x, 3, 2, true, true),
		"bn":         bn,
		"dw":         refDepthwise(x, f64[:36], 3, 2),
		"pad":        refPad(x, 1, 2, 0, 1, false),
		"mirror":     refPad(x, 1, 1, 2, 1, true),
	}
	for name, w := range want {
		idx := out.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("no output %s", name)
		}
		tv, err := columnar.TensorOf(out.Schema().Field(idx[0]), out.Column(idx[0]))
		if err != nil {
			t.Fatal(err)
		}
		got := tv.Values.(*array.Float32)
		if want := []int64{int64(w.n), int64(w.h), int64(w.w), int64(w.c)}; len(tv.Shape) != 4 || tv.Shape[1] != want[1] || tv.Shape[2] != want[2] || tv.Shape[3] != want[3] {
			t.Errorf("%s: shape %v, want %v", name, tv.Shape, want)
			tv.Values.Release()
			continue
		}
		for i, v := range w.v {
			if g := float64(got.Value(i)); math.Abs(g-v) > 1e-4*(1+math.Abs(v)) {
				t.Errorf("%s[%d] = %v, want %v", name, i, g, v)
				break
			}
		}
		tv.Values.Release()
	}
}
