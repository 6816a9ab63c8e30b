package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rnnrun/rnnrun/runtime/protocol"
	"github.com/rnnrun/rnnrun/runtime/protocol/kserve"
	"github.com/rnnrun/rnnrun/runtime/protocol/openai"
)

// Protocols are the drop-in APIs mounted beside rnnrun's own (docs/api.md):
// OpenAI's completions at /v1, KServe's Open Inference Protocol at /v2.
var Protocols = []protocol.New{openai.New, kserve.New}

// protocols mounts every protocol's endpoints and returns their collectors.
func (s *Server) protocols() []prometheus.Collector {
	env := protocol.Env{Registry: s.reg, Limits: s.opts.Limits, Decode: s.budget, Sequences: s.opts.Sequences}
	var cs []prometheus.Collector
	for _, p := range Protocols {
		routes := p(env)
		for _, e := range routes.Endpoints {
			s.handle(e.Method, e.Path, e.Label, e.Handle)
		}
		cs = append(cs, routes.Collectors...)
	}
	return cs
}
