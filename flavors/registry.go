package flavors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/mlship/mlship/mlmodel"
)

// Registry maps MLmodel flavor keys to the flavors compiled into this build.
type Registry struct {
	mu      sync.RWMutex
	flavors map[string]Flavor
	order   []string // registration order
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{flavors: map[string]Flavor{}}
}

// Register adds f. It panics on an empty or duplicate name, as sql.Register
// does: both are programming errors found at start-up.
func (r *Registry) Register(f Flavor) {
	name := f.Name()
	if name == "" {
		panic("flavors: Register with an empty flavor name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.flavors[name]; dup {
		panic("flavors: Register called twice for flavor " + name)
	}
	r.flavors[name] = f
	r.order = append(r.order, name)
}

// Lookup returns the flavor registered under name.
func (r *Registry) Lookup(name string) (Flavor, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.flavors[name]
	return f, ok
}

// Names returns the registered flavor names in preference order.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.preference()
}

// preference orders flavors for selection: native flavors (run in-process,
// no interpreter) in registration order, python_function last, because it
// needs a Python environment and is the slowest way to serve a model.
func (r *Registry) preference() []string {
	out := make([]string, 0, len(r.order))
	for _, n := range r.order {
		if n != mlmodel.PyFuncFlavorName {
			out = append(out, n)
		}
	}
	if _, ok := r.flavors[mlmodel.PyFuncFlavorName]; ok {
		out = append(out, mlmodel.PyFuncFlavorName)
	}
	return out
}

// ErrNoFlavor is matched (errors.Is) by a *NoFlavorError.
var ErrNoFlavor = errors.New("no servable flavor")

// NoFlavorError says that no flavor of a model can be served by this build,
// listing both sides.
type NoFlavorError struct {
	Model     []string // flavors the model has
	Supported []string // flavors this build serves
	Forced    string   // the flavor the user asked for, if any
}

func (e *NoFlavorError) Error() string {
	have := "none"
	if len(e.Model) > 0 {
		have = strings.Join(e.Model, ", ")
	}
	sup := strings.Join(e.Supported, ", ")
	if e.Forced != "" {
		if slices.Contains(e.Supported, e.Forced) {
			return fmt.Sprintf("the model has no %q flavor (it has: %s; mlship serves: %s)", e.Forced, have, sup)
		}
		return fmt.Sprintf("flavor %q is not supported by this build of mlship (supported: %s; the model has: %s)", e.Forced, sup, have)
	}
	return fmt.Sprintf("no servable flavor: the model has flavors [%s]; mlship serves [%s]", have, sup)
}

func (e *NoFlavorError) Is(target error) bool { return target == ErrNoFlavor }

// Selection is the flavor chosen for a model and why.
type Selection struct {
	Flavor Flavor
	Reason string
}

// Select picks the flavor to serve m with. force, when not empty, names the
// flavor to use (the --flavor flag).
func (r *Registry) Select(m *mlmodel.Model, force string) (Selection, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	pref := r.preference()
	have := m.FlavorNames()
	if force != "" {
		f, ok := r.flavors[force]
		_, inModel := m.Flavors[force]
		if !ok || !inModel {
			return Selection{}, &NoFlavorError{Model: have, Supported: pref, Forced: force}
		}
		return Selection{Flavor: f, Reason: fmt.Sprintf("%q was requested with --flavor", force)}, nil
	}
	for _, name := range pref {
		if _, ok := m.Flavors[name]; !ok {
			continue
		}
		reason := fmt.Sprintf("%q is the model's only flavor this build serves", name)
		if others := servable(have, pref, name); len(others) > 0 {
			reason = fmt.Sprintf("%q is preferred over %s", name, strings.Join(others, ", "))
			if slices.Contains(others, fmt.Sprintf("%q", mlmodel.PyFuncFlavorName)) {
				reason += " (native flavors run in-process, without a Python interpreter)"
			} else {
				reason += " (earlier in mlship's preference order)"
			}
		}
		return Selection{Flavor: r.flavors[name], Reason: reason}, nil
	}
	return Selection{}, &NoFlavorError{Model: have, Supported: pref}
}

func servable(have, pref []string, chosen string) []string {
	var out []string
	for _, h := range have {
		if h != chosen && slices.Contains(pref, h) {
			out = append(out, fmt.Sprintf("%q", h))
		}
	}
	return out
}

// Loaded is a model ready to predict.
type Loaded struct {
	Model     *mlmodel.Model
	Flavor    string
	Reason    string
	Predictor Predictor
}

// Close releases the predictor if it holds resources.
func (l *Loaded) Close() error {
	if c, ok := l.Predictor.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Load reads the model at ref (a directory, its MLmodel file or a file://
// URI), selects a flavor (force overrides the choice) and loads it.
func (r *Registry) Load(ctx context.Context, ref, force string, opts LoadOptions) (*Loaded, error) {
	m, err := mlmodel.Load(ref)
	if err != nil {
		return nil, err
	}
	return r.LoadModel(ctx, m, force, opts)
}

// LoadModel is Load for a descriptor already read.
func (r *Registry) LoadModel(ctx context.Context, m *mlmodel.Model, force string, opts LoadOptions) (*Loaded, error) {
	sel, err := r.Select(m, force)
	if err != nil {
		return nil, err
	}
	name := sel.Flavor.Name()
	opts.Log().Info("loading model", "dir", m.Dir, "flavor", name, "why", sel.Reason)
	p, err := sel.Flavor.Load(ctx, m, opts)
	if err != nil {
		return nil, fmt.Errorf("loading flavor %q: %w", name, err)
	}
	return &Loaded{Model: m, Flavor: name, Reason: sel.Reason, Predictor: p}, nil
}

// Default is the registry flavors add themselves to from init(), through
// Register. Like prometheus.DefaultRegisterer it is process-global state:
// use it only from flavors/builtin's blank imports and from the CLI; tests
// and libraries should build their own Registry.
var Default = NewRegistry()

// Register adds f to Default. Call it only from an init function.
func Register(f Flavor) { Default.Register(f) }
