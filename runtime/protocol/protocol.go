// Package protocol is what the drop-in serving protocols (OpenAI's
// completions in protocol/openai, KServe's Open Inference Protocol in
// protocol/kserve) give the server: absolute endpoints and their metrics. A
// protocol only translates HTTP to the library (the registry's leases, the
// tasks' instances, model.Run); the server mounts its endpoints like its own,
// so they are counted, timed and logged by route.
package protocol

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
)

// Env is what a protocol is made with, once per server.
type Env struct {
	Registry *registry.Registry
	// Limits are the server's limits, the same as its own routes'.
	Limits task.Limits
	// Decode is the server-wide budget of decoded input in flight (nil: unbounded).
	Decode *task.Budget
	// Sequences bound the stateful sequences a protocol keeps between calls.
	Sequences SequenceLimits
}

// SequenceLimits bound the live sequences of stateful generation (KServe v2).
type SequenceLimits struct {
	// MaxSequences is the number of live sequences; a new one beyond it is 429.
	MaxSequences int `mapstructure:"max-sequences" json:"max_sequences"`
	// SequenceIdle closes a sequence no call touched for this long.
	SequenceIdle time.Duration `mapstructure:"sequence-idle" json:"sequence_idle"`
}

// Endpoint is one route at an absolute path ("POST /v1/completions").
type Endpoint struct {
	Method, Path string
	// Label names the route in metrics and logs.
	Label  string
	Handle http.HandlerFunc
}

// Routes are a protocol's endpoints and its Prometheus collectors.
type Routes struct {
	Endpoints  []Endpoint
	Collectors []prometheus.Collector
}

// New makes one protocol's routes.
type New func(Env) Routes
