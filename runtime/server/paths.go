package server

import (
	"path/filepath"

	"github.com/rnnrun/rnnrun/runtime/registry"
)

// relPaths rewrites the file paths of a models status relative to the
// config file's folder (unless Options.AbsolutePaths), so the endpoint does
// not show the host's layout. The statuses are copies; their Version is
// copied before it is changed.
func (s *Server) relPaths(list []registry.ModelStatus, cfg registry.ConfigStatus) ([]registry.ModelStatus, registry.ConfigStatus) {
	if s.opts.AbsolutePaths || cfg.Path == "" {
		return list, cfg
	}
	base, err := filepath.Abs(filepath.Dir(cfg.Path))
	if err != nil {
		return list, cfg
	}
	rel := func(p string) string {
		if !filepath.IsAbs(p) {
			return p
		}
		if r, err := filepath.Rel(base, p); err == nil {
			return r
		}
		return p
	}
	for i := range list {
		list[i].Path = rel(list[i].Path)
		if v := list[i].Version; v != nil {
			c := *v
			c.Path = rel(c.Path)
			list[i].Version = &c
		}
	}
	cfg.Path = filepath.Base(cfg.Path)
	return list, cfg
}
