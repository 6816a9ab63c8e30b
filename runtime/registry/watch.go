package registry

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/rnnrun/rnnrun/runtime/model/infer"
)

// Watch follows the config file (see WithConfigFile), every model file and
// its sidecar metadata file (MODEL.rnnrun.json) and calls Reload when one of
// them changes, until ctx is done. It watches their
// folders, not the files, so editors and tools that replace a file by
// renaming a new one over it are seen; events are debounced by the config's
// server.debounce (a ConfigMap's "..data" swap counts as a change of the
// config file). Watch returns when ctx is done, or an error if the
// watcher cannot start.
func (r *Registry) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	watched := map[string]bool{}
	var targets map[string]bool // cleaned paths whose changes matter
	refresh := func() {
		cfg := r.Config()
		targets = map[string]bool{}
		want := map[string]bool{}
		if r.cfgPath != "" {
			p := abs(r.cfgPath)
			targets[p] = true
			want[filepath.Dir(p)] = true
		}
		for _, m := range cfg.Models {
			p := abs(m.Path)
			targets[p] = true
			targets[abs(infer.SidecarPath(m.Path))] = true // beside the model: its folder is watched
			want[filepath.Dir(p)] = true
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				want[p] = true // a SavedModel folder: changes inside it
			}
		}
		for d := range watched {
			if !want[d] {
				_ = w.Remove(d)
				delete(watched, d)
			}
		}
		for d := range want {
			if watched[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				r.log.Warn("cannot watch folder", "dir", d, "err", err)
				continue
			}
			watched[d] = true
		}
	}
	refresh()
	cfgDir := ""
	if r.cfgPath != "" {
		cfgDir = filepath.Dir(abs(r.cfgPath))
	}
	relevant := func(name string) bool {
		p := abs(name)
		// Kubernetes mounts a ConfigMap as symlinks into a "..data" folder
		// that it swaps atomically: the config file itself sees no event.
		if cfgDir != "" && filepath.Dir(p) == cfgDir && strings.HasPrefix(filepath.Base(p), "..") {
			return true
		}
		for p != "" {
			if targets[p] {
				return true
			}
			parent := filepath.Dir(p)
			if parent == p {
				break
			}
			p = parent
		}
		return false
	}
	debounce := cmp.Or(r.Config().Loading.Debounce, DefaultLoading.Debounce)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	r.log.Info("watching the config and model files", "folders", len(watched), "debounce", debounce)
	if r.watchStarted != nil {
		r.watchStarted()
	}
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod || !relevant(ev.Name) {
				continue
			}
			r.log.Debug("file event", "file", ev.Name, "op", ev.Op.String())
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.log.Warn("file watcher error", "err", err)
		case <-timer.C:
			r.log.Info("files changed; reloading")
			_ = r.Reload(ctx) // errors are logged and shown in Status
			refresh()
		}
	}
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return filepath.Clean(a)
	}
	return filepath.Clean(p)
}
