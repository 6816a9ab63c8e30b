package kserve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rnnrun/rnnrun/runtime/protocol"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Stateful generation over v2: a call with the request parameter sequence_id
// on a stateful text model generates max_tokens characters (default 1) and
// keeps the recurrent state (h, c) and the sampler in the server for the next
// call of the sequence. sequence_start begins it (its "text" input, BYTES
// [1], is the prompt; temperature, top_k, top_p and seed are read then);
// a later call's "text" is fed to the model before it generates;
// sequence_end closes it. The output "text" (BYTES [1]) is what the call
// generated. protocol.SequenceLimits bound the live sequences.

// sequence is what a live sequence keeps between calls.
type sequence struct {
	sha     string
	sampler *textgen.Sampler
	snap    textgen.Snapshot
	used    time.Time
}

// sequences are the live ones, by id. A call takes its sequence out while it
// runs, so a concurrent call of the same id finds none.
type sequences struct {
	lim  protocol.SequenceLimits
	mu   sync.Mutex
	live map[string]*sequence
}

func (ss *sequences) take(id string) *sequence {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.live[id]
	delete(ss.live, id)
	return s
}

func (ss *sequences) put(id string, s *sequence) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.live == nil {
		ss.live = map[string]*sequence{}
	}
	for k, old := range ss.live {
		if time.Since(old.used) > ss.lim.SequenceIdle {
			delete(ss.live, k)
		}
	}
	if len(ss.live) >= ss.lim.MaxSequences {
		return fmt.Errorf("%w: %d sequences are live (the server's max-sequences); end one with sequence_end", registry.ErrBusy, ss.lim.MaxSequences)
	}
	s.used = time.Now()
	ss.live[id] = s
	return nil
}

// seqCall is one call of a sequence, as its parameters say.
type seqCall struct {
	id         string
	start, end bool
	text       string
	body       generate.Request // max_tokens and, at the start, the sampling
}

func (h *handler) sequence(w http.ResponseWriter, r *http.Request, req InferRequest, rest []byte) {
	call, err := readSeqCall(req, rest, h.env.Limits)
	if err != nil {
		fail(w, r, err)
		return
	}
	c := task.NewCall(w, r, h.env.Registry, generate.Name, h.env.Limits, generate.MapError)
	lease, in, err := acquire[*generate.Instance](c)
	if err != nil {
		seqFail(c, err)
		return
	}
	defer lease.Release()
	ctx, cancel := h.context(r)
	defer cancel()
	text, err := h.step(ctx, lease, in, call)
	if err != nil {
		seqFail(c, err)
		return
	}
	resp := InferResponse{ModelName: c.Model, ModelVersion: lease.Version().SHA256[:12], ID: req.ID,
		Outputs: []OutputTensor{{Name: "text", Shape: []int64{1}, Datatype: "BYTES", Data: []string{text}}}}
	write(w, resp, nil)
}

// seqFail maps text errors as the generate route does, then writes {"error": ...}.
func seqFail(c *task.Call, err error) {
	if e := c.Error(err); e.Status() != http.StatusInternalServerError {
		err = e
	}
	fail(c.W, c.R, err)
}

var errNoSequence = errors.New("no live sequence")

// readSeqCall reads the sequence parameters, the generation parameters and the "text" input.
func readSeqCall(req InferRequest, rest []byte, lim task.Limits) (seqCall, error) {
	p := req.Parameters
	call := seqCall{id: fmt.Sprint(p["sequence_id"]), start: p.flag("sequence_start"), end: p.flag("sequence_end")}
	if call.id == "" || call.id == "0" {
		return call, badRequest("sequence_id must be a non-zero number or a non-empty string")
	}
	one := 1
	call.body.MaxLength = &one
	for key, dst := range map[string]any{"max_tokens": &call.body.MaxLength, "temperature": &call.body.Temperature,
		"top_k": &call.body.TopK, "top_p": &call.body.TopP, "seed": &call.body.Seed} {
		if v, ok := p[key]; ok {
			raw, _ := json.Marshal(v)
			if err := json.Unmarshal(raw, dst); err != nil {
				return call, badRequest(fmt.Sprintf("parameter %s %v: %v", key, v, err))
			}
		}
	}
	for _, in := range req.Inputs {
		if in.Name != "text" || in.Datatype != "BYTES" {
			return call, badRequest(fmt.Sprintf("input %q %s: a sequence takes one input, \"text\" BYTES [1]", in.Name, in.Datatype))
		}
		s, err := bytesInput(in, rest)
		if err != nil {
			return call, badRequest(`input "text": ` + err.Error())
		}
		call.text = s
	}
	if call.start {
		call.body.Prompt = call.text
	}
	return call, generate.CheckBody(call.body, lim)
}

// bytesInput reads a BYTES [1] input: JSON ["..."], or binary (a 4-byte little-endian length, then the bytes).
func bytesInput(in InputTensor, rest []byte) (string, error) {
	if len(in.Shape) != 1 || in.Shape[0] != 1 {
		return "", fmt.Errorf("shape %v: want [1]", in.Shape)
	}
	elems, err := bytesElements(in, rest, func(s string) ([]byte, error) { return []byte(s), nil })
	if err != nil {
		return "", err
	}
	return string(elems[0]), nil
}

// step runs one call of a sequence and returns the generated text.
func (h *handler) step(ctx context.Context, lease *registry.Lease, in *generate.Instance, call seqCall) (string, error) {
	g := in.Generator()
	if g.Mode() != textgen.ModeStateful {
		return "", badRequest(fmt.Sprintf("model %q generates %s: sequences need a stateful model", lease.Name(), g.Mode()))
	}
	seq := h.seqs.take(call.id)
	var cur *textgen.Cursor
	var err error
	req, err := call.body.Resolve(in.Defaults(), h.env.Limits)
	if err != nil {
		return "", err
	}
	switch {
	case call.start:
		prompt, err := g.Vocab().Encode(call.text)
		if err != nil {
			return "", err
		}
		seq = &sequence{sha: lease.Version().SHA256}
		if seq.sampler, err = textgen.NewSampler(req.Sampling); err != nil {
			return "", err
		}
		if cur, err = g.Open(ctx, prompt); err != nil {
			return "", err
		}
	case seq == nil:
		return "", badRequest(fmt.Sprintf("%v %q (it ended, went idle for %v, or is in use); start it with sequence_start", errNoSequence, call.id, h.seqs.lim.SequenceIdle))
	case seq.sha != lease.Version().SHA256:
		return "", task.NewError(http.StatusConflict, "model_swapped", fmt.Sprintf("sequence %q: the model was swapped since it started; start a new one", call.id))
	default:
		if cur, err = g.Resume(seq.snap); err != nil {
			return "", err
		}
		if err := feed(ctx, cur, g, call.text); err != nil {
			cur.Close()
			return "", err
		}
	}
	defer cur.Close()
	text, err := sample(ctx, cur, g, seq.sampler, req.MaxLength)
	if err != nil || call.end {
		return text, err
	}
	if seq.snap, err = cur.Snapshot(); err != nil {
		return "", err
	}
	return text, h.seqs.put(call.id, seq)
}

// feed runs the model over text.
func feed(ctx context.Context, cur *textgen.Cursor, g *textgen.Generator, text string) error {
	idx, err := g.Vocab().Encode(text)
	if err != nil {
		return err
	}
	for _, i := range idx {
		if err := cur.Feed(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// sample draws n characters, feeding each back.
func sample(ctx context.Context, cur *textgen.Cursor, g *textgen.Generator, smp *textgen.Sampler, n int) (string, error) {
	out := make([]byte, 0, n)
	for range n {
		var idx int
		var err error
		g.Mask(cur.Next())
		if g.Logits() {
			idx, err = smp.SampleLogits(cur.Next())
		} else {
			idx, err = smp.Sample(cur.Next())
		}
		if err != nil {
			return "", err
		}
		out = append(out, g.Vocab().Token(idx)...)
		if err := cur.Feed(ctx, idx); err != nil {
			return "", err
		}
	}
	return string(out), nil
}
