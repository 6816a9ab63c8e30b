package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unicode"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/textgen"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// ClassifierTopK is the number of classes each classification lists.
const ClassifierTopK = 5

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
	timeout := cfg.Server.LoadTimeout
	if timeout <= 0 {
		timeout = DefaultLoadTimeout
	}
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
	m, err := model.Open(ctx, mc.Path, model.Options{
		Backend:     model.BackendName(mc.Backend),
		Threads:     mc.Threads,
		LibraryPath: cfg.OrtLib,
	})
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

// check validates the signature and metadata, prepares the task's runner and
// runs one smoke inference.
func (r *Registry) check(ctx context.Context, e *entry) error {
	m, mc := e.m, e.cfg
	sig, md := m.Signature(), m.Metadata()
	if len(sig.Inputs) == 0 || len(sig.Outputs) == 0 {
		return fmt.Errorf("%w: %s has %d inputs and %d outputs", ErrCheck, mc.Path, len(sig.Inputs), len(sig.Outputs))
	}
	task := md.Task
	if task == "" {
		task = mc.Task // a model without metadata task: trust the config
	}
	if task == "" {
		task = model.TaskTextGeneration
	}
	if mc.Task != "" && task != mc.Task {
		return fmt.Errorf("%w: %s declares task %q, the config expects %q", ErrCheck, mc.Path, task, mc.Task)
	}
	e.task = task
	sctx, cancel := context.WithTimeout(ctx, r.smokeTimeout)
	defer cancel()
	switch task {
	case model.TaskTextGeneration:
		mode, err := textgen.ParseMode(mc.Mode)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadConfig, err)
		}
		g, err := textgen.New(m, textgen.Options{Mode: mode, Window: mc.Window})
		if err != nil {
			return err
		}
		e.gen, e.engine = g, g
		if _, _, err := g.Text(sctx, textgen.Request{Prompt: smokePrompt(g.Vocab()), MaxLength: 2}); err != nil {
			return fmt.Errorf("%w: smoke generation: %v", ErrCheck, err)
		}
		if r.engine != nil {
			eng, err := r.engine(mc.Name, g)
			if err != nil {
				return fmt.Errorf("text engine: %w", err)
			}
			e.engine = eng
		}
	case model.TaskImageClassification:
		c, err := vision.NewClassifier(m, vision.Options{Workers: 1, TopK: ClassifierTopK})
		if err != nil {
			return err
		}
		e.cls = c
		w, h := c.Size()
		p, err := c.ClassifyOne(sctx, vision.NewGray(w, h))
		if err != nil {
			return fmt.Errorf("%w: smoke classification: %v", ErrCheck, err)
		}
		if len(p.Probs) != len(c.Labels()) {
			return fmt.Errorf("%w: smoke classification gave %d probabilities for %d labels", ErrCheck, len(p.Probs), len(c.Labels()))
		}
	default:
		return fmt.Errorf("%w: %s declares task %q, which rnnrun cannot serve", ErrCheck, mc.Path, task)
	}
	return nil
}

// smokePrompt is one character of the vocabulary, a letter if there is one.
func smokePrompt(v *textgen.Vocab) string {
	for i := range v.Size() {
		if c := v.Char(i); unicode.IsLetter(c) {
			return string(c)
		}
	}
	return string(v.Char(0))
}
