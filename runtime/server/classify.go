package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// ClassifyJSON is the JSON body of POST /v1/models/{name}/classify: pixel
// arrays of integers 0..255 in any shape vision.DecodeJSON reads ([h][w],
// [h*w], [n][h][w] or [n][h*w]).
type ClassifyJSON struct {
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

// ClassifyResponse is the answer to a classify request.
type ClassifyResponse struct {
	Model       string           `json:"model"`
	Version     registry.Version `json:"version"`
	Predictions []Classification `json:"predictions"`
}

// input is one image of a request before preparation.
type input struct {
	name string
	img  image.Image // decoded picture, or nil
	gray *vision.Gray
}

func (s *Server) classify(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.reg.Has(name) {
		fail(w, r, fmt.Errorf("%w: %q", registry.ErrNotFound, name))
		return
	}
	mt, params := mediaType(r)
	switch mt {
	case "image/png", "image/jpeg", "image/jpg", "image/gif", "multipart/form-data", "application/json":
	default:
		fail(w, r, newError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: send image/png, image/jpeg, multipart/form-data with image files, or application/json pixel arrays", mt)))
		return
	}
	pre, err := preprocessParam(r.URL.Query().Get("preprocess"))
	if err != nil {
		fail(w, r, err)
		return
	}
	withInput, err := boolParam("return_input", r.URL.Query().Get("return_input"))
	if err != nil {
		fail(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	// Read and decode the body before taking a concurrency slot.
	var inputs []input
	var pixelsJSON []byte
	switch mt {
	case "application/json":
		var body ClassifyJSON
		if err := decodeJSON(r, &body); err != nil {
			fail(w, r, err)
			return
		}
		if len(body.Pixels) == 0 || string(body.Pixels) == "null" {
			fail(w, r, newError(http.StatusBadRequest, "bad_json", `the body needs "pixels": an array of pixel values 0..255`))
			return
		}
		if body.Preprocess != nil {
			pre = body.Preprocess
		}
		withInput = withInput || body.ReturnInput
		pixelsJSON = body.Pixels
	case "multipart/form-data":
		inputs, err = s.readMultipart(r, params["boundary"])
	default:
		var data []byte
		data, err = io.ReadAll(r.Body)
		if err == nil {
			var img image.Image
			img, err = s.decodeImage(data)
			inputs = []input{{img: img}}
		}
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	lease, err := s.reg.Acquire(name)
	if err != nil {
		fail(w, r, err)
		return
	}
	defer lease.Release()
	note(r, "sha256", lease.Version().SHA256[:12])
	c := lease.Classifier()
	if lease.Task() != model.TaskImageClassification || c == nil {
		fail(w, r, fmt.Errorf("%w: model %q does %s, not image classification; use /v1/models/%s/generate", errWrongTask, name, lease.Task(), name))
		return
	}
	if pixelsJSON != nil {
		width, height := c.Size()
		grays, err := vision.DecodeJSON(pixelsJSON, width, height)
		if err != nil {
			fail(w, r, err)
			return
		}
		if len(grays) > s.opts.MaxImages {
			fail(w, r, tooMany(len(grays), s.opts.MaxImages))
			return
		}
		for i := range grays {
			inputs = append(inputs, input{gray: &grays[i]})
		}
	}
	if len(inputs) == 0 {
		fail(w, r, newError(http.StatusBadRequest, "no_images", "the request holds no images"))
		return
	}
	images := make([]vision.Gray, len(inputs))
	results := make([]Classification, len(inputs))
	for i, in := range inputs {
		g, prepped, err := prepare(c, in, pre)
		if err != nil {
			if len(inputs) > 1 {
				label := in.name
				if label == "" {
					label = strconv.Itoa(i)
				}
				err = fmt.Errorf("image %s: %w", label, err)
			}
			fail(w, r, err)
			return
		}
		images[i] = g
		results[i].Name, results[i].Preprocessed = in.name, prepped
		if withInput {
			results[i].Input = inputImage(g)
		}
	}
	ctx := r.Context()
	if s.opts.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.RequestTimeout)
		defer cancel()
	}
	preds, err := c.Classify(ctx, images)
	if err != nil {
		fail(w, r, err)
		return
	}
	for i := range preds {
		results[i].Prediction = preds[i]
	}
	s.metrics.images.WithLabelValues(name).Add(float64(len(preds)))
	note(r, "images", len(preds))
	writeJSON(w, http.StatusOK, ClassifyResponse{Model: name, Version: lease.Version(), Predictions: results})
}

// maxRequestImages bounds the decoded pixels of one request to this many
// images of the largest size, so many small, highly compressed files cannot
// take unbounded memory.
const maxRequestImages = 4

func tooMany(n, limit int) error {
	return newError(http.StatusRequestEntityTooLarge, "too_many_images", fmt.Sprintf("%d images; this server takes at most %d per request", n, limit))
}

func preprocessParam(v string) (*bool, error) {
	switch strings.ToLower(v) {
	case "", "auto":
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "invalid_params", fmt.Sprintf("preprocess=%q: want auto, true or false", v))
	}
	return &b, nil
}

func boolParam(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, newError(http.StatusBadRequest, "invalid_params", fmt.Sprintf("%s=%q: want true or false", name, v))
	}
	return b, nil
}

func (s *Server) decodeImage(data []byte) (image.Image, error) {
	img, _, err := vision.DecodeBytes(data, vision.DecodeOptions{MaxPixels: s.opts.MaxPixels, MaxBytes: s.opts.MaxBodyBytes})
	return img, err
}

// readMultipart decodes every file part (or image/* part) of a multipart body.
func (s *Server) readMultipart(r *http.Request, boundary string) ([]input, error) {
	if boundary == "" {
		return nil, newError(http.StatusBadRequest, "bad_multipart", "multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(r.Body, boundary)
	var inputs []input
	var pixels int64
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return inputs, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, newError(http.StatusBadRequest, "bad_multipart", "reading the multipart body: "+err.Error())
		}
		ct := strings.ToLower(part.Header.Get("Content-Type"))
		if part.FileName() == "" && !strings.HasPrefix(ct, "image/") {
			part.Close() // a plain form field
			continue
		}
		if len(inputs) == s.opts.MaxImages {
			return nil, tooMany(len(inputs)+1, s.opts.MaxImages)
		}
		data, err := io.ReadAll(part)
		part.Close()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, newError(http.StatusBadRequest, "bad_multipart", "reading the multipart body: "+err.Error())
		}
		label := part.FileName()
		if label == "" {
			label = part.FormName()
		}
		img, err := s.decodeImage(data)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", label, err)
		}
		b := img.Bounds()
		if pixels += int64(b.Dx()) * int64(b.Dy()); pixels > int64(maxRequestImages)*int64(s.opts.MaxPixels) {
			return nil, newError(http.StatusRequestEntityTooLarge, "image_too_large",
				fmt.Sprintf("the images hold more than %d pixels together (%d times the limit of one image)", int64(maxRequestImages)*int64(s.opts.MaxPixels), maxRequestImages))
		}
		inputs = append(inputs, input{name: label, img: img})
	}
}

// prepare turns one input into what the classifier takes. With pre nil
// (auto), a picture of the model's exact size whose border matches the
// model's background is fed as is (as MNIST's own images should be), pixel
// arrays of the model's size are fed as given, and everything else goes
// through the classifier's preprocessing.
func prepare(c *vision.Classifier, in input, pre *bool) (vision.Gray, bool, error) {
	width, height := c.Size()
	var g vision.Gray
	if in.gray != nil {
		g = *in.gray
	} else {
		g = vision.ToGray(in.img)
	}
	fits := g.Width == width && g.Height == height
	doPre := !fits
	switch {
	case pre != nil:
		doPre = *pre
	case fits && in.gray == nil:
		darkBackground := vision.BorderLevel(g) <= 127
		doPre = darkBackground != (c.PreprocessOptions().Ink != vision.InkDarkOnLight)
	}
	if !doPre {
		if err := c.Check(g); err != nil {
			return g, false, err
		}
		return g, false, nil
	}
	var src image.Image = g
	if in.img != nil {
		src = in.img
	}
	p, err := c.Prepare(src)
	return p, true, err
}
