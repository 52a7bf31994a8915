package pack

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/mlship/mlship/mlmodel"
)

// History entries ("created by") of the layers the builder adds; `docker
// history` shows them, and they tell a reader which layer is which.
const (
	HistoryHostBase = "mlship: host base (C runtime from the build machine)"
	HistoryRuntime  = "mlship: runtime (mlship and native libraries)"
	HistoryModel    = "mlship: model (" + ModelDir + ")"
)

// Build builds the image serving the model at opts.Model: a base, a layer
// with the mlship binary and the native libraries the serving flavor
// loads, and a layer with the model. Nothing talks to a container engine;
// only a registry base is pulled. Layers are spooled to unlinked temporary
// files that live as long as the image does.
//
// Builds are reproducible: the same inputs give the same digest, and a
// change to the model alone changes only the model layer (and the config
// and manifest that name it).
func Build(ctx context.Context, opts Options) (v1.Image, error) {
	log := opts.logger()
	start := time.Now()
	platform, err := parsePlatform(opts.Platform)
	if err != nil {
		return nil, err
	}
	m, err := mlmodel.Load(opts.Model)
	if err != nil {
		return nil, err
	}
	flavor, libsFor, err := selectFlavor(m, opts.Flavor, opts.PythonEnv != "")
	if err != nil {
		return nil, err
	}
	var pyEnv *pythonEnv
	if opts.PythonEnv != "" {
		if flavor != mlmodel.PyFuncFlavorName {
			return nil, fmt.Errorf("the model is served with its native flavor %s, which needs no Python environment; "+
				"to serve it through python_function with the one given, force that flavor (--flavor python_function)", flavor)
		}
		if pyEnv, err = readPythonEnv(opts.PythonEnv, platform); err != nil {
			return nil, err
		}
	}
	libs, err := libsFor(opts.Getenv, opts.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("flavor %s: %w", flavor, err)
	}
	binary, err := mlshipBinary(opts.Binary, platform)
	if err != nil {
		return nil, err
	}
	created := opts.Epoch
	fileTime := opts.Epoch
	if created.IsZero() {
		created = modelCreated(m)
	}
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	if fileTime.IsZero() {
		fileTime = time.Unix(0, 0)
	}

	base := opts.Base
	if base == "" {
		base = BaseHost
	}
	var (
		baseImg                  v1.Image
		info                     baseInfo
		hostLayer, rt, modelLayr v1.Layer
		pyLayer                  v1.Layer
	)
	lo := layerOptions{mtime: fileTime, level: opts.Level, tempDir: opts.TempDir}
	if lo.level == 0 {
		lo.level = 6
	}
	// The base decides the manifest's media types, so it comes first; the
	// layers are then built in parallel.
	if base != BaseHost {
		if baseImg, info, err = loadBase(ctx, base, platform, opts); err != nil {
			return nil, err
		}
		if err := checkPlatform(baseImg, platform); err != nil {
			return nil, fmt.Errorf("base image %s: %w", base, err)
		}
	} else {
		baseImg = empty.Image
	}
	mt, err := baseImg.MediaType()
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", base, err)
	}
	lo.mediaType = types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		lo.mediaType = types.OCILayer
	}

	g, gctx := errgroup.WithContext(ctx)
	if base == BaseHost {
		g.Go(func() error {
			programs := []string{binary}
			provided := map[string]bool{}
			for _, l := range libs {
				programs = append(programs, l.host)
				provided[l.name] = true
			}
			if pyEnv != nil {
				programs = append(programs, pyEnv.elfs...)
				for n := range pyEnv.provided {
					provided[n] = true
				}
			}
			var data []string
			if pyEnv != nil {
				data = append(data, hostZoneinfo)
			}
			t, _, err := hostBaseTree(programs, platform.Architecture, provided, data...)
			if err != nil {
				return fmt.Errorf("host base: %w", err)
			}
			hostLayer, err = cachedLayer(gctx, t, lo, opts.LayerCache)
			return err
		})
	}
	g.Go(func() error {
		t := newTree()
		t.file(BinDir+"/mlship", binary, 0o755)
		for _, l := range libs {
			t.file(LibDir+"/"+l.name, l.host, 0o644)
		}
		rt, err = cachedLayer(gctx, t, lo, opts.LayerCache)
		return err
	})
	if pyEnv != nil {
		g.Go(func() error {
			pyLayer, err = cachedLayer(gctx, pyEnv.t, lo, opts.LayerCache)
			return err
		})
	}
	g.Go(func() error {
		t, err := modelTree(m.Dir)
		if err != nil {
			return err
		}
		modelLayr, err = buildLayer(gctx, t, lo)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}

	img := baseImg
	if base == BaseHost {
		img, err = mutate.ConfigFile(empty.Image, &v1.ConfigFile{
			OS:           platform.OS,
			Architecture: platform.Architecture,
			RootFS:       v1.RootFS{Type: "layers"},
			Config:       v1.Config{Env: []string{"PATH=" + defaultPath}},
		})
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: hostLayer, History: history(HistoryHostBase, created)})
		if err != nil {
			return nil, err
		}
	}
	// The Python environment goes below the runtime: a new mlship binary
	// then leaves the environment's layer (and its chain ID in a Docker
	// engine's store) as it was.
	var adds []mutate.Addendum
	if pyEnv != nil {
		adds = append(adds, mutate.Addendum{Layer: pyLayer, History: history(HistoryPython, created)})
	}
	adds = append(adds,
		mutate.Addendum{Layer: rt, History: history(HistoryRuntime, created)},
		mutate.Addendum{Layer: modelLayr, History: history(HistoryModel, created)},
	)
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Config = imageConfig(cf.Config, m, flavor, libs, pyEnv, created, info, opts)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	if d, err := img.Digest(); err == nil {
		log.Info("image built", "digest", d.String(), "flavor", flavor, "base", base, "duration", time.Since(start).String())
	}
	return img, nil
}

// defaultPath is the PATH of an image whose base sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func history(by string, created time.Time) v1.History {
	return v1.History{Created: v1.Time{Time: created}, CreatedBy: by, Comment: "mlship build-docker"}
}

// imageConfig is the base's runtime configuration with the server's: the
// base's environment is kept (with mlship's directory first on PATH) and
// its labels are overridden key by key.
func imageConfig(c v1.Config, m *mlmodel.Model, flavor string, libs []nativeLib, py *pythonEnv, created time.Time, base baseInfo, o Options) v1.Config {
	env := map[string]string{}
	var order []string
	setEnv := func(kv string) {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, kv := range c.Env {
		setEnv(kv)
	}
	p := env["PATH"]
	if p == "" {
		p = defaultPath
	}
	setEnv("PATH=" + BinDir + ":" + p)
	for _, l := range libs {
		setEnv(l.env + "=" + LibDir + "/" + l.name)
	}
	if py != nil {
		// The python_function flavor runs the workers with MLSHIP_PYTHON
		// (the "local" environment manager, mlship serve's default).
		setEnv("MLSHIP_PYTHON=" + py.interpreter)
		if py.home {
			// A virtual environment's pyvenv.cfg names its base
			// interpreter's directory on the build machine; PYTHONHOME
			// makes the interpreter take its prefix from the image.
			setEnv("PYTHONHOME=" + PythonDir)
		}
	}
	// `mlship serve` reads its listening address from these when no flag
	// gives it, so a runtime replacing the command (SageMaker's `serve`)
	// still listens on all interfaces; SAGEMAKER_BIND_TO_PORT overrides
	// the port.
	setEnv("MLSHIP_HOST=0.0.0.0")
	setEnv("MLSHIP_PORT=" + strconv.Itoa(Port))
	for _, kv := range o.Env {
		setEnv(kv)
	}
	c.Env = c.Env[:0:0]
	for _, k := range order {
		c.Env = append(c.Env, k+"="+env[k])
	}

	labels := map[string]string{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	for k, v := range imageLabels(m, flavor, created, base, o.Version) {
		labels[k] = v
	}
	for k, v := range o.Labels {
		labels[k] = v
	}
	c.Labels = labels
	c.Entrypoint = slices.Clone(Entrypoint)
	c.Cmd = slices.Clone(Cmd)
	if flavor == mlmodel.PyFuncFlavorName && hasNative(m) {
		// mlship serve would pick the native flavor.
		c.Cmd = append(c.Cmd, "--flavor", flavor)
	}
	c.User = strconv.Itoa(userID) + ":" + strconv.Itoa(groupID)
	c.WorkingDir = WorkingDir
	c.ExposedPorts = map[string]struct{}{strconv.Itoa(Port) + "/tcp": {}}
	c.StopSignal = "SIGTERM"
	// A base's health check would probe something that is not there.
	c.Healthcheck = nil
	c.Shell = nil
	c.OnBuild = nil
	return c
}

func parsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		s = DefaultPlatform
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("platform %q: %w", s, err)
	}
	if p.OS != "linux" || p.Architecture != "amd64" {
		return v1.Platform{}, fmt.Errorf("platform %q: only %s is supported so far", s, DefaultPlatform)
	}
	return *p, nil
}

func checkPlatform(img v1.Image, want v1.Platform) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if cf.OS != want.OS || cf.Architecture != want.Architecture {
		return fmt.Errorf("it is for %s/%s, not %s", cf.OS, cf.Architecture, want.String())
	}
	return nil
}

// mlshipBinary is the executable to put in the image: the one given, else
// the running one; it must be an ELF program for the platform.
func mlshipBinary(p string, platform v1.Platform) (string, error) {
	if p == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("finding the running mlship binary (give one with --mlship-binary): %w", err)
		}
		p = exe
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("mlship binary: %w", err)
	}
	info, err := readELF(real)
	if err != nil {
		return "", fmt.Errorf("mlship binary %s: %w", p, err)
	}
	if machineFor[platform.Architecture] != info.machine {
		return "", fmt.Errorf("mlship binary %s is built for %s, not %s", p, info.machine, platform.String())
	}
	return real, nil
}

// modelTree lays out the model directory under ModelDir: every file,
// readable by the image's user, root-owned so the server cannot change it.
// Symbolic links to files are followed; other special files are refused.
func modelTree(dir string) (*tree, error) {
	// The walk starts at the directory itself, also when the path given
	// is a symbolic link to it.
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the model: %w", err)
	}
	t := newTree()
	t.dir(ModelDir, 0o755, 0, 0)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		dst := path.Join(ModelDir, filepath.ToSlash(rel))
		st, err := os.Stat(p) // follows links
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			t.dir(dst, 0o755, 0, 0)
		case st.IsDir():
			return fmt.Errorf("%s links to a directory; copy it into the model instead", p)
		case st.Mode().IsRegular():
			mode := int64(0o644)
			if st.Mode().Perm()&0o111 != 0 {
				mode = 0o755
			}
			t.file(dst, p, mode)
		default:
			return fmt.Errorf("%s is not a regular file (%s)", p, st.Mode().Type())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the model: %w", err)
	}
	return t, nil
}

// cachedLayer is buildLayer through the layer cache in dir, if any.
func cachedLayer(ctx context.Context, t *tree, o layerOptions, dir string) (v1.Layer, error) {
	if dir == "" {
		return buildLayer(ctx, t, o)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return (&layerCache{dir: dir, keep: cacheKeep}).build(ctx, t, o)
}

// cacheKeep is how many layers the cache keeps: the runtime and host base
// of the two latest mlship binaries, and a Python environment's layer with
// its host base.
const cacheKeep = 6

// buildLayer builds a tree into a layer unless ctx is done.
func buildLayer(ctx context.Context, t *tree, o layerOptions) (v1.Layer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return t.build(ctx, o)
}
