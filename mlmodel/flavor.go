package mlmodel

import (
	"fmt"
)

// FlavorConfig is one flavor's block under `flavors:`. Its keys are
// flavor-specific; the accessors give typed reads with errors that name the key.
type FlavorConfig map[string]any

// String returns the string at key; ok is false when the key is absent or
// null.
func (c FlavorConfig) String(key string) (s string, ok bool, err error) {
	v, present := c[key]
	if !present || v == nil {
		return "", false, nil
	}
	s, err = asString(key, v)
	return s, err == nil, err
}

// Map returns the mapping at key (nil when absent or null).
func (c FlavorConfig) Map(key string) (map[string]any, error) {
	return asMap(key, c[key])
}

// Strings returns the list of strings at key (nil when absent or null).
func (c FlavorConfig) Strings(key string) ([]string, error) {
	return asStrings(key, c[key])
}

// Bool returns the boolean at key; ok is false when absent or null.
func (c FlavorConfig) Bool(key string) (b, ok bool, err error) {
	p, err := asBoolPtr(key, c[key])
	if err != nil || p == nil {
		return false, false, err
	}
	return *p, true, nil
}

// PyFuncFlavorName is the key of the python_function flavor, the flavor
// every servable MLflow model carries.
const PyFuncFlavorName = "python_function"

// PyFunc is a typed view of the python_function flavor block.
type PyFunc struct {
	LoaderModule  string
	PythonVersion string
	Data          string // relative path passed to the loader; "" means the model root
	Code          string // directory added to sys.path; "" when absent
	// Env maps an environment manager to its spec file. A 1.x string `env`
	// is read as {"conda": <path>}, as MLflow reads it.
	Env             map[string]string
	EnvIsString     bool // the file used the 1.x string form
	PredictFn       string
	ModelPath       string
	Config          map[string]any
	Streamable      bool
	PredictStreamFn string
	ModelCodePath   string
	Task            string
}

// PyFunc returns the python_function flavor, or ok=false when the model has
// none.
func (m *Model) PyFunc() (p *PyFunc, ok bool, err error) {
	c, present := m.Flavors[PyFuncFlavorName]
	if !present {
		return nil, false, nil
	}
	p = &PyFunc{}
	wrap := func(e error) error { return fmt.Errorf("flavors.%s.%w", PyFuncFlavorName, e) }
	fields := []struct {
		key string
		dst *string
	}{
		{"loader_module", &p.LoaderModule}, {"python_version", &p.PythonVersion},
		{"data", &p.Data}, {"code", &p.Code}, {"predict_fn", &p.PredictFn},
		{"model_path", &p.ModelPath}, {"predict_stream_fn", &p.PredictStreamFn},
		{"model_code_path", &p.ModelCodePath}, {"task", &p.Task},
	}
	for _, f := range fields {
		s, _, err := c.String(f.key)
		if err != nil {
			return nil, true, wrap(err)
		}
		*f.dst = s
	}
	if p.LoaderModule == "" {
		return nil, true, fmt.Errorf("flavors.%s: missing required key \"loader_module\"", PyFuncFlavorName)
	}
	switch env := c["env"].(type) {
	case nil:
	case string:
		p.Env, p.EnvIsString = map[string]string{"conda": env}, true
	case map[string]any:
		p.Env = make(map[string]string, len(env))
		for k, v := range env {
			s, err := asString("env."+k, v)
			if err != nil {
				return nil, true, wrap(err)
			}
			p.Env[k] = s
		}
	default:
		return nil, true, wrap(fmt.Errorf("env: expected a file name or a mapping, got %s", describe(env)))
	}
	if p.Config, err = c.Map("config"); err != nil {
		return nil, true, wrap(err)
	}
	if p.Streamable, _, err = c.Bool("streamable"); err != nil {
		return nil, true, wrap(err)
	}
	if p.PredictFn == "" {
		p.PredictFn = "predict"
	}
	return p, true, nil
}
