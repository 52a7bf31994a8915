package pyenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// markerFile records a finished build inside the environment. It is
// written last, before publication, so its presence means every install
// step succeeded.
const markerFile = ".mlship-env.json"

// marker is markerFile's content: enough to tell what an environment in
// the cache is without recomputing its key.
type marker struct {
	Manager  string    `json:"manager"`
	Key      string    `json:"key"`
	Python   string    `json:"python,omitempty"`
	Base     string    `json:"base,omitempty"`
	Source   string    `json:"source,omitempty"`
	ModelDir string    `json:"model_dir,omitempty"`
	Created  time.Time `json:"created"`
}

// buildPlan is one environment to materialise in the cache.
type buildPlan struct {
	key    string
	marker *marker // build may fill in what it learns (the base interpreter)
	// interpreter is the env-relative path of the python to check on
	// reuse ("bin/python").
	interpreter string
	// build creates the environment at dir, which does not exist yet.
	build func(ctx context.Context, dir string) error
}

// readMarker reads a published environment's marker; a zero marker when
// it cannot (the marker only enriches messages).
func readMarker(dir string) marker {
	var m marker
	if data, err := os.ReadFile(filepath.Join(dir, markerFile)); err == nil {
		_ = json.Unmarshal(data, &m)
	}
	return m
}

// envsDir is where environments live inside the cache.
func (p *preparer) envsDir() string { return filepath.Join(p.o.CacheDir, "envs") }

// ensure returns CacheDir/envs/<key>, building it first unless a finished
// copy exists; reused reports which.
//
// Layout, for key K:
//
//	envs/K          symlink to K.d-<random>, created only when the build is complete
//	envs/K.d-<random>  the environment itself; its path never changes
//	envs/K.lock     flock'ed by whoever checks or builds K
//
// Virtualenvs and conda prefixes write their absolute path into scripts
// and binaries, so an environment built elsewhere and renamed into place
// would be subtly broken. Instead the directory is built where it stays,
// and the atomic step is renaming a fresh symlink over envs/K.
func (p *preparer) ensure(ctx context.Context, plan buildPlan) (dir string, reused bool, err error) {
	envs := p.envsDir()
	final := filepath.Join(envs, plan.key)
	log := p.log.With("key", plan.key)
	// Fast path without the lock: a published environment never changes
	// until someone finds it broken, and that happens under the lock.
	if p.usable(final, plan) {
		log.Info("reusing environment", "dir", final)
		return final, true, nil
	}
	if err := os.MkdirAll(envs, 0o755); err != nil {
		return "", false, fmt.Errorf("creating environment cache: %w", err)
	}
	unlock, err := lockFile(ctx, final+".lock", log)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if p.usable(final, plan) {
		log.Info("reusing environment built by another process", "dir", final)
		return final, true, nil
	}
	// Holding the lock, anything under this key is left over from a build
	// that died, or is a published environment whose interpreter vanished.
	if fileExists(filepath.Join(final, markerFile)) {
		log.Warn("cached environment lost its interpreter; rebuilding", "dir", final)
	}
	if err := removeKey(envs, plan.key); err != nil {
		return "", false, err
	}
	buildDir := filepath.Join(envs, plan.key+".d-"+randomSuffix())
	log.Info("creating environment", "dir", final, "source", plan.marker.Source, "python", plan.marker.Python)
	start := time.Now()
	if err := plan.build(ctx, buildDir); err != nil {
		// A cancelled build is removed here; a killed one is removed by
		// the next builder (removeKey). Neither is ever published.
		_ = os.RemoveAll(buildDir)
		return "", false, err
	}
	if err := publish(envs, plan, buildDir); err != nil {
		_ = os.RemoveAll(buildDir)
		return "", false, err
	}
	log.Info("environment ready", "dir", final, "duration", time.Since(start).Round(time.Millisecond).String())
	return final, false, nil
}

// usable reports whether dir is a finished environment whose interpreter
// still exists. Only a missing interpreter (its base Python uninstalled)
// counts as broken: a slow or failing probe must not make one server
// delete the environment another one is running from.
func (p *preparer) usable(dir string, plan buildPlan) bool {
	if !fileExists(filepath.Join(dir, markerFile)) {
		return false
	}
	return isExecutable(filepath.Join(dir, plan.interpreter))
}

// publish writes the marker and makes envs/<key> point at buildDir.
func publish(envs string, plan buildPlan, buildDir string) error {
	m := *plan.marker
	m.Key, m.Created = plan.key, time.Now().UTC()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding environment marker: %w", err)
	}
	if err := writeFileSync(filepath.Join(buildDir, markerFile), append(data, '\n')); err != nil {
		return fmt.Errorf("writing environment marker: %w", err)
	}
	// The link is relative so that the envs directory as a whole can be
	// inspected or copied without dangling links.
	tmp := filepath.Join(envs, plan.key+".link-"+randomSuffix())
	if err := os.Symlink(filepath.Base(buildDir), tmp); err != nil {
		return fmt.Errorf("publishing environment: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(envs, plan.key)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("publishing environment: %w", err)
	}
	return nil
}

// removeKey deletes everything stored under key: the published name (a
// symlink, or a directory left by hand), build directories and temporary
// links. Callers hold the key's lock.
func removeKey(envs, key string) error {
	final := filepath.Join(envs, key)
	if st, err := os.Lstat(final); err == nil {
		if st.Mode()&fs.ModeSymlink != 0 {
			err = os.Remove(final)
		} else {
			err = os.RemoveAll(final)
		}
		if err != nil {
			return fmt.Errorf("removing incomplete environment: %w", err)
		}
	}
	entries, err := os.ReadDir(envs)
	if err != nil {
		return fmt.Errorf("reading environment cache: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, key+".d-") || strings.HasPrefix(n, key+".link-") {
			if err := os.RemoveAll(filepath.Join(envs, n)); err != nil {
				return fmt.Errorf("removing incomplete environment: %w", err)
			}
		}
	}
	return nil
}

// writeFileSync writes and fsyncs, so that after a crash the marker is
// either absent or complete.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
