// Package openai serves OpenAI's completions API over the registry's text
// models: GET /v1/models and POST /v1/completions (JSON, or Server-Sent
// Events with "stream": true). A character is a token: max_tokens counts
// characters and usage counts the characters of the prompts and of the
// completions. The requests go through the generate task's instance, its
// checks (textgen's one rule, the server's limits) and its engine, so a
// completion equals the native generate route's answer for the same seed.
package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rnnrun/rnnrun/runtime/protocol"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// MaxChoices caps the completions of one request (prompts times n).
const MaxChoices = 16

// New makes the protocol's routes.
func New(env protocol.Env) protocol.Routes {
	h := &handler{env: env, tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rnnrun_openai_completion_tokens_total",
		Help: "Tokens (characters) generated through /v1/completions, by model.",
	}, []string{"model"})}
	return protocol.Routes{
		Endpoints: []protocol.Endpoint{
			{Method: "GET", Path: "/v1/models", Label: "openai_models", Handle: h.models},
			{Method: "POST", Path: "/v1/completions", Label: "openai_completions", Handle: h.completions},
		},
		Collectors: []prometheus.Collector{h.tokens},
	}
}

type handler struct {
	env    protocol.Env
	tokens *prometheus.CounterVec
}

// Model is one entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the body of GET /v1/models: the models that generate text.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

func (h *handler) models(w http.ResponseWriter, r *http.Request) {
	list := ModelList{Object: "list", Data: []Model{}}
	for _, st := range h.env.Registry.Status() {
		if !serves(st) {
			continue
		}
		m := Model{ID: st.Name, Object: "model", OwnedBy: "rnnrun"}
		if st.Version != nil {
			m.Created = st.Version.LoadedAt.Unix()
		}
		list.Data = append(list.Data, m)
	}
	task.WriteJSON(w, http.StatusOK, list)
}

func serves(st registry.ModelStatus) bool {
	for _, t := range st.Tasks {
		if t == generate.Name {
			return true
		}
	}
	return false
}

// Request is the body of POST /v1/completions. Prompt and Stop are a string
// or a list of strings; TopK is an extension. The fields OpenAI has and
// rnnrun does not (echo, logprobs, suffix, best_of, penalties, logit_bias)
// are accepted at their neutral values only.
type Request struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int            `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	Seed          *int64          `json:"seed"`
	Stop          json.RawMessage `json:"stop"`
	N             *int            `json:"n"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	User string `json:"user"`

	Echo             bool               `json:"echo"`
	Logprobs         *int               `json:"logprobs"`
	Suffix           *string            `json:"suffix"`
	BestOf           *int               `json:"best_of"`
	PresencePenalty  *float64           `json:"presence_penalty"`
	FrequencyPenalty *float64           `json:"frequency_penalty"`
	LogitBias        map[string]float64 `json:"logit_bias"`
}

// Completion is the answer (and, with one choice each, every streamed chunk).
type Completion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	SystemFingerprint string   `json:"system_fingerprint"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
}

// Choice is one completion; FinishReason is "stop" or "length" (null in a streamed chunk before the last).
type Choice struct {
	Text         string  `json:"text"`
	Index        int     `json:"index"`
	Logprobs     *string `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

// Usage counts characters: a character is a token.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (u *Usage) add(st textgen.Stats) {
	u.PromptTokens += st.PromptChars
	u.CompletionTokens += st.Generated
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
}

// job is one choice to generate.
type job struct {
	index int
	body  generate.Request
}

func (h *handler) completions(w http.ResponseWriter, r *http.Request) {
	c := task.NewCall(w, r, h.env.Registry, generate.Name, h.env.Limits, generate.MapError)
	var body Request
	if err := c.DecodeJSON(&body); err != nil {
		fail(c, err)
		return
	}
	c.Model = body.Model
	r.SetPathValue("name", body.Model) // the server's metrics and log line label the request by model
	jobs, err := body.jobs(h.env.Limits)
	if err != nil {
		fail(c, err)
		return
	}
	lease, inst, err := c.Acquire()
	if err != nil {
		fail(c, err)
		return
	}
	defer lease.Release()
	in, ok := inst.(*generate.Instance)
	if !ok {
		fail(c, fmt.Errorf("task %s: instance of type %T", generate.Name, inst))
		return
	}
	reqs := make([]textgen.Request, len(jobs))
	for i, j := range jobs {
		if reqs[i], err = j.body.Resolve(in.Defaults(), h.env.Limits); err != nil {
			fail(c, err)
			return
		}
	}
	out := Completion{ID: "cmpl-" + strconv.FormatInt(time.Now().UnixNano(), 36), Object: "text_completion",
		Created: time.Now().Unix(), Model: c.Model, SystemFingerprint: lease.Version().SHA256}
	run := &run{h: h, c: c, eng: in.Engine(), out: out}
	if body.Stream {
		run.stream(reqs, body.StreamOptions != nil && body.StreamOptions.IncludeUsage)
		return
	}
	run.complete(reqs)
}

// jobs checks the body and makes one generate request per choice: prompt i,
// choice k is index i*n+k; with a seed, choice k takes seed+k (so choice 0
// is the native route's answer for that seed).
func (b *Request) jobs(lim task.Limits) ([]job, error) {
	if b.Model == "" {
		return nil, paramError("model", "must name a model (GET /v1/models lists them)")
	}
	if err := b.neutral(); err != nil {
		return nil, err
	}
	prompts, err := stringList(b.Prompt, "prompt")
	if err != nil {
		return nil, err
	}
	if prompts == nil {
		prompts = []string{""}
	}
	stop, err := stringList(b.Stop, "stop")
	if err != nil {
		return nil, err
	}
	n := 1
	if b.N != nil {
		n = *b.N
	}
	if n < 1 || n*len(prompts) > MaxChoices {
		return nil, paramError("n", fmt.Sprintf("%d: prompts times n must be in 1..%d", n, MaxChoices))
	}
	if b.Seed != nil && *b.Seed < 0 {
		return nil, paramError("seed", fmt.Sprintf("%d: must be >= 0", *b.Seed))
	}
	var jobs []job
	for i, p := range prompts {
		for k := range n {
			g := generate.Request{Prompt: p, MaxLength: b.MaxTokens, Temperature: b.Temperature, TopK: b.TopK, TopP: b.TopP, Stop: stop}
			if b.Seed != nil {
				s := uint64(*b.Seed) + uint64(k)
				g.Seed = &s
			}
			if err := generate.CheckBody(g, lim); err != nil {
				return nil, err
			}
			jobs = append(jobs, job{index: i*n + k, body: g})
		}
	}
	return jobs, nil
}

// neutral refuses the OpenAI fields rnnrun does not implement, unless at their neutral value.
func (b *Request) neutral() error {
	switch {
	case b.Echo:
		return paramError("echo", "is not supported")
	case b.Logprobs != nil && *b.Logprobs != 0:
		return paramError("logprobs", "is not supported")
	case b.Suffix != nil && *b.Suffix != "":
		return paramError("suffix", "is not supported")
	case b.BestOf != nil && *b.BestOf != 1:
		return paramError("best_of", "is not supported (use n)")
	case b.PresencePenalty != nil && *b.PresencePenalty != 0:
		return paramError("presence_penalty", "is not supported")
	case b.FrequencyPenalty != nil && *b.FrequencyPenalty != 0:
		return paramError("frequency_penalty", "is not supported")
	case len(b.LogitBias) > 0:
		return paramError("logit_bias", "is not supported")
	}
	return nil
}

// stringList reads null, a string or a list of strings.
func stringList(raw json.RawMessage, name string) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, paramError(name, "must be a string or a list of strings (token ids are not supported: send text)")
	}
	if len(list) == 0 && name == "prompt" {
		return nil, paramError(name, "must not be an empty list")
	}
	return list, nil
}

// ParamError is a bad OpenAI parameter (400 invalid_params, its name as "param").
type ParamError struct{ Name, Rule string }

func (e *ParamError) Error() string { return e.Name + " " + e.Rule }

// Unwrap makes errors.Is(err, textgen.ErrInvalidParams) match.
func (e *ParamError) Unwrap() error { return textgen.ErrInvalidParams }

func paramError(name, rule string) error { return &ParamError{Name: name, Rule: rule} }
