// Package classify is the image-classification task: a vision.Classifier,
// its smoke check, and POST {prefix}/models/{name}/classify (PNG, JPEG, GIF,
// multipart or JSON pixel arrays).
package classify

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// JSONBody is the JSON body of POST /api/v1/models/{name}/classify: pixel
// arrays of integers 0..255 in any shape vision.DecodeJSON reads ([h][w],
// [h*w], [n][h][w] or [n][h*w]).
type JSONBody struct {
	Pixels json.RawMessage `json:"pixels"`
	// Preprocess: nil feeds images of the model's size as given and
	// preprocesses the others; true preprocesses every image; false none.
	Preprocess *bool `json:"preprocess,omitempty"`
	// ReturnInput adds each image as the model sees it to its prediction.
	ReturnInput bool `json:"return_input,omitempty"`
}

// Classification is the result for one image.
type Classification struct {
	// Name is the multipart file name (or form field) the image came from.
	Name string `json:"name,omitempty"`
	vision.Prediction
	// Preprocessed tells whether the image went through vision.Preprocess.
	Preprocessed bool `json:"preprocessed"`
	// Input is the image as the model sees it (after any preprocessing),
	// when the request asked for it with return_input.
	Input *InputImage `json:"input,omitempty"`
}

// InputImage is one image as fed to the model: grey levels 0..255, one row
// of Width values per line, in the [h][w] shape a JSON classify request takes.
type InputImage struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Pixels [][]int `json:"pixels"`
}

func inputImage(g vision.Gray) *InputImage {
	rows := make([][]int, g.Height)
	for y := range rows {
		rows[y] = make([]int, g.Width)
		for x := range rows[y] {
			rows[y][x] = int(g.GrayAt(x, y))
		}
	}
	return &InputImage{Width: g.Width, Height: g.Height, Pixels: rows}
}

// Response is the answer to a classify request.
type Response struct {
	Model       string           `json:"model"`
	Version     registry.Version `json:"version"`
	Predictions []Classification `json:"predictions"`
}

// input is one image of a request before preparation: an encoded picture
// (its bytes and header, decoded only inside a concurrency slot and under the
// server's decode budget) or JSON pixels.
type input struct {
	name string
	data []byte       // the encoded picture, or nil
	cfg  image.Config // its header
	gray *vision.Gray
}

func (h *handler) classify(c *task.Call) { task.Handle(c, h.read, h.run) }

// body is a classify request as read before a slot is taken.
type body struct {
	pre        *bool
	pixelsJSON []byte // JSON pixel arrays, decoded later at the model's size
	inputs     []input
	withInput  bool // return_input: add each image as the model sees it
}

func (h *handler) run(c *task.Call, lease *registry.Lease, in *Instance, b body) error {
	cls, inputs := in.Classifier(), b.inputs
	if b.pixelsJSON != nil {
		var err error
		release, err := c.Reserve(vision.JSONDecodedBytes(len(b.pixelsJSON)))
		if err != nil {
			return err
		}
		inputs, err = pixelInputs(cls, b.pixelsJSON, c.Limits.MaxImages)
		release()
		if err != nil {
			return err
		}
	}
	if len(inputs) == 0 {
		return task.NewError(http.StatusBadRequest, "no_images", "the request holds no images")
	}
	images, results, err := prepareAll(c, cls, inputs, b.pre, b.withInput)
	if err != nil {
		return err
	}
	ctx, cancel := c.Context()
	defer cancel()
	preds, err := cls.Classify(ctx, images)
	if err != nil {
		return err
	}
	for i := range preds {
		results[i].Prediction = preds[i]
	}
	h.images.WithLabelValues(c.Model).Add(float64(len(preds)))
	c.Note("images", len(preds))
	c.JSON(http.StatusOK, Response{Model: c.Model, Version: lease.Version(), Predictions: results})
	return nil
}

// read checks the media type, reads the body and checks each image's header,
// before a concurrency slot is taken. The pictures are decoded later, in the
// slot and under the decode budget; JSON pixel arrays too, at the model's size.
func (h *handler) read(c *task.Call) (body, error) {
	mt, params := task.MediaType(c.R)
	switch mt {
	case "image/png", "image/jpeg", "image/jpg", "image/gif", "multipart/form-data", "application/json":
	default:
		return body{}, task.NewError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: send image/png, image/jpeg, multipart/form-data with image files, or application/json pixel arrays", mt))
	}
	var b body
	var err error
	if b.pre, err = preprocessParam(c.R.URL.Query().Get("preprocess")); err != nil {
		return b, err
	}
	if b.withInput, err = boolParam("return_input", c.R.URL.Query().Get("return_input")); err != nil {
		return b, err
	}
	c.LimitBody()
	switch mt {
	case "application/json":
		var j JSONBody
		if err := task.DecodeJSON(c.R, &j); err != nil {
			return b, err
		}
		if len(j.Pixels) == 0 || string(j.Pixels) == "null" {
			return b, task.NewError(http.StatusBadRequest, "bad_json", `the body needs "pixels": an array of pixel values 0..255`)
		}
		if j.Preprocess != nil {
			b.pre = j.Preprocess
		}
		b.withInput = b.withInput || j.ReturnInput
		b.pixelsJSON = j.Pixels
		return b, nil
	case "multipart/form-data":
		b.inputs, err = h.readMultipart(c, params["boundary"])
		return b, err
	}
	data, err := io.ReadAll(c.R.Body)
	if err != nil {
		return b, err
	}
	cfg, err := probe(c, data)
	b.inputs = []input{{data: data, cfg: cfg}}
	return b, err
}

// pixelInputs decodes JSON pixel arrays at the classifier's size.
func pixelInputs(cls *vision.Classifier, pixels []byte, maxImages int) ([]input, error) {
	width, height := cls.Size()
	grays, err := vision.DecodeJSON(pixels, width, height)
	if err != nil {
		return nil, err
	}
	if len(grays) > maxImages {
		return nil, tooMany(len(grays), maxImages)
	}
	inputs := make([]input, len(grays))
	for i := range grays {
		inputs[i] = input{gray: &grays[i]}
	}
	return inputs, nil
}

// prepareAll decodes and prepares every input, one at a time, naming the
// image that fails; only the model-sized result of each is kept.
func prepareAll(c *task.Call, cls *vision.Classifier, inputs []input, pre *bool, withInput bool) ([]vision.Gray, []Classification, error) {
	images := make([]vision.Gray, len(inputs))
	results := make([]Classification, len(inputs))
	for i, in := range inputs {
		g, prepped, err := decodeAndPrepare(c, cls, in, pre)
		if err != nil {
			if errors.Is(err, errDecode) {
				return nil, nil, err
			}
			if len(inputs) > 1 {
				label := in.name
				if label == "" {
					label = strconv.Itoa(i)
				}
				err = fmt.Errorf("image %s: %w", label, err)
			}
			return nil, nil, err
		}
		images[i] = g
		results[i].Name, results[i].Preprocessed = in.name, prepped
		if withInput {
			results[i].Input = inputImage(g)
		}
	}
	return images, results, nil
}

// maxRequestImages bounds the decoded pixels of one request to this many
// images of the largest size, so many small, highly compressed files cannot
// take unbounded memory.
const maxRequestImages = 4

func tooMany(n, limit int) error {
	return task.NewError(http.StatusRequestEntityTooLarge, "too_many_images", fmt.Sprintf("%d images; this server takes at most %d per request", n, limit))
}

func boolParam(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, task.NewError(http.StatusBadRequest, "invalid_params", fmt.Sprintf("%s=%q: want true or false", name, v))
	}
	return b, nil
}

func preprocessParam(v string) (*bool, error) {
	switch strings.ToLower(v) {
	case "", "auto":
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, task.NewError(http.StatusBadRequest, "invalid_params", fmt.Sprintf("preprocess=%q: want auto, true or false", v))
	}
	return &b, nil
}

func decodeOptions(c *task.Call) vision.DecodeOptions {
	return vision.DecodeOptions{MaxPixels: c.Limits.MaxPixels, MaxBytes: c.Limits.MaxBodyBytes}
}

// probe checks an image's header against the limits without decoding it.
func probe(c *task.Call, data []byte) (image.Config, error) {
	cfg, _, err := vision.Probe(data, decodeOptions(c))
	return cfg, err
}

// errDecode marks an error decoding a picture, which already names its image.
var errDecode = errors.New("decoding")

type decodeError struct{ err error }

func (e decodeError) Error() string   { return e.err.Error() }
func (e decodeError) Unwrap() []error { return []error{e.err, errDecode} }

// decodeAndPrepare decodes an encoded picture under the decode budget and
// prepares it; the decoded picture is dropped before the next one is decoded.
func decodeAndPrepare(c *task.Call, cls *vision.Classifier, in input, pre *bool) (vision.Gray, bool, error) {
	if in.data == nil {
		return prepare(cls, *in.gray, false, pre)
	}
	release, err := c.Reserve(vision.DecodedBytes(in.cfg))
	if err != nil {
		return vision.Gray{}, false, err
	}
	defer release()
	img, _, err := vision.DecodeBytes(in.data, decodeOptions(c))
	if err != nil {
		if in.name != "" {
			err = fmt.Errorf("image %q: %w", in.name, err)
		}
		return vision.Gray{}, false, decodeError{err}
	}
	g := vision.ToGray(img)
	return prepare(cls, g, true, pre)
}

// readMultipart decodes every file part (or image/* part) of a multipart body.
func (h *handler) readMultipart(c *task.Call, boundary string) ([]input, error) {
	if boundary == "" {
		return nil, task.NewError(http.StatusBadRequest, "bad_multipart", "multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(c.R.Body, boundary)
	var inputs []input
	var budget pixelBudget
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return inputs, nil
		}
		if err != nil {
			if task.BodyError(err) {
				return nil, err
			}
			return nil, task.NewError(http.StatusBadRequest, "bad_multipart", "reading the multipart body: "+err.Error())
		}
		ct := strings.ToLower(part.Header.Get("Content-Type"))
		if part.FileName() == "" && !strings.HasPrefix(ct, "image/") {
			part.Close() // a plain form field
			continue
		}
		if len(inputs) == c.Limits.MaxImages {
			return nil, tooMany(len(inputs)+1, c.Limits.MaxImages)
		}
		data, err := io.ReadAll(part)
		part.Close()
		if err != nil {
			if task.BodyError(err) {
				return nil, err
			}
			return nil, task.NewError(http.StatusBadRequest, "bad_multipart", "reading the multipart body: "+err.Error())
		}
		label := part.FileName()
		if label == "" {
			label = part.FormName()
		}
		cfg, err := probe(c, data)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", label, err)
		}
		if err := budget.add(cfg, c.Limits.MaxPixels); err != nil {
			return nil, err
		}
		inputs = append(inputs, input{name: label, data: data, cfg: cfg})
	}
}

// prepare turns one input into what the classifier takes. With pre nil
// (auto), a picture of the model's exact size whose border matches the
// model's background is fed as is (as MNIST's own images should be), pixel
// arrays of the model's size are fed as given, and everything else goes
// through the classifier's preprocessing.
func prepare(c *vision.Classifier, g vision.Gray, picture bool, pre *bool) (vision.Gray, bool, error) {
	width, height := c.Size()
	fits := g.Width == width && g.Height == height
	doPre := !fits
	switch {
	case pre != nil:
		doPre = *pre
	case fits && picture:
		darkBackground := vision.BorderLevel(g) <= 127
		doPre = darkBackground != (c.PreprocessOptions().Ink != vision.InkDarkOnLight)
	}
	if !doPre {
		if err := c.Check(g); err != nil {
			return g, false, err
		}
		return g, false, nil
	}
	p, err := c.Prepare(g) // a picture's grey conversion is where preprocessing starts
	return p, true, err
}
