package registry

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/model/infer"
)

// sidecarSum is the sha256 of the model's sidecar metadata file
// (infer.SidecarPath), or "" when it has none: editing the sidecar changes
// what the model serves, so a reload compares it as it compares the model's bytes.
func sidecarSum(path string) string {
	b, err := os.ReadFile(infer.SidecarPath(path))
	if err != nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hashPath returns the hex sha256 and size of a file, or of every regular file
// under a folder (names and contents, in walk order).
func hashPath(path string) (string, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", model.ErrBadModel, err)
	}
	h := sha256.New()
	var size int64
	add := func(p string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(h, f)
		size += n
		return err
	}
	if !st.IsDir() {
		if err := add(path); err != nil {
			return "", 0, fmt.Errorf("%w: %v", model.ErrBadModel, err)
		}
		return hex.EncodeToString(h.Sum(nil)), size, nil
	}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		return add(p)
	})
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", model.ErrBadModel, err)
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// load opens one version, checks it and runs one smoke inference. The file is
// hashed again afterwards: when it changed while loading, the load is retried
// so the version always names the bytes that were loaded.
func (r *Registry) load(ctx context.Context, mc ModelConfig, cfg Config, sum string, size int64) (*entry, error) {
	timeout := cmp.Or(cfg.Loading.LoadTimeout, DefaultLoading.LoadTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		e, err := r.loadOnce(ctx, mc, cfg, sum, size)
		if err != nil {
			return nil, err
		}
		after, asize, err := hashPath(mc.Path)
		if err == nil && after == sum {
			return e, nil
		}
		e.decRef()
		if err != nil {
			return nil, err
		}
		if attempt == 2 {
			return nil, fmt.Errorf("%w: %s keeps changing while it loads", model.ErrBadModel, mc.Path)
		}
		sum, size = after, asize
	}
}

func (r *Registry) loadOnce(ctx context.Context, mc ModelConfig, cfg Config, sum string, size int64) (*entry, error) {
	layer, err := mc.metadataLayer()
	if err != nil {
		return nil, err
	}
	m, err := infer.Open(ctx, mc.Path, model.Options{
		Backend:     model.BackendName(mc.Backend),
		Threads:     mc.Threads,
		LibraryPath: cfg.OrtLib,
	}, layer)
	if err != nil {
		return nil, err
	}
	e := &entry{
		r: r, name: mc.Name, cfg: mc, m: m,
		version: Version{SHA256: sum, LoadedAt: time.Now().UTC(), Path: mc.Path, Size: size},
		sem:     make(chan struct{}, max(1, mc.Concurrency)),
	}
	e.refs.Store(1)
	r.open.Add(1)
	if err := r.check(ctx, e); err != nil {
		e.decRef()
		return nil, err
	}
	return e, nil
}

// check validates the signature, finds the model's kind and prepares every
// task that serves it, each with its smoke check.
func (r *Registry) check(ctx context.Context, e *entry) error {
	m, mc := e.m, e.cfg
	sig, md := m.Signature(), m.Metadata()
	if len(sig.Inputs) == 0 || len(sig.Outputs) == 0 {
		return fmt.Errorf("%w: %s has %d inputs and %d outputs", ErrCheck, mc.Path, len(sig.Inputs), len(sig.Outputs))
	}
	kind := md.Task // the config's task (normalised: "text" is text-generation) wins over the file's
	if declared := md.File["task"]; mc.Task != "" && declared != "" && declared != kind {
		return fmt.Errorf("%w: %s declares task %q, the config expects %q", ErrCheck, mc.Path, declared, mc.Task)
	}
	e.kind = kind
	sctx, cancel := context.WithTimeout(ctx, r.smokeTimeout)
	defer cancel()
	for _, t := range r.tasks {
		if !t.Serves(kind) {
			continue
		}
		in, err := t.Load(sctx, m, mc)
		if err != nil {
			return fmt.Errorf("task %s: %w", t.Name(), err)
		}
		e.tasks, e.instances = append(e.tasks, t.Name()), append(e.instances, in)
	}
	if len(e.tasks) == 0 {
		if why := md.Sources["task"]; kind == "" && why != "" {
			return fmt.Errorf("%w: %s: no task: the task is %s", ErrCheck, mc.Path, why)
		}
		return fmt.Errorf("%w: %s declares task %q, which no registered task serves (registered: %s)", ErrCheck, mc.Path, kind, taskNames(r.tasks))
	}
	return nil
}

// metadataLayer is the config entry's part of the model's metadata: its
// task and overrides, named "config entry NAME".
func (mc ModelConfig) metadataLayer() (infer.Values, error) {
	o := mc.Overrides
	o.Task = mc.Task
	vs, err := o.Values(func(opt string) string { return fmt.Sprintf("config entry %q (%s)", mc.Name, opt) })
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	return vs, nil
}
