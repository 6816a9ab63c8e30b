package server_test

import (
	"bytes"
	"image"
	"image/png"
	"slices"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/task/classify"
)

// return_input gives back each image as the model sees it: a 28x28 MNIST-like
// picture as it was sent, a larger drawing as the 28x28 preprocessing made it.
func TestClassifyReturnInput(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	digit := pngDigit(t, 28, 28, false)
	img, err := png.Decode(bytes.NewReader(digit))
	if err != nil {
		t.Fatal(err)
	}
	code, body := e.do("POST", "/api/v1/models/image/classify?return_input=true", "image/png", digit)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	in := decode[classify.Response](t, body).Predictions[0].Input
	if in == nil || in.Width != 28 || in.Height != 28 || len(in.Pixels) != 28 {
		t.Fatalf("input %+v", in)
	}
	for y, row := range in.Pixels {
		for x, v := range row {
			if want := int(img.(*image.Gray).GrayAt(x, y).Y); v != want {
				t.Fatalf("pixel (%d,%d) = %d, the PNG has %d", x, y, v, want)
			}
		}
	}
	// Without the parameter, no input in the answer.
	if _, body := e.do("POST", "/api/v1/models/image/classify", "image/png", digit); bytes.Contains(body, []byte(`"input"`)) {
		t.Fatalf("input without return_input: %s", body)
	}
	// A 100x80 dark-on-light drawing comes back as 28x28 light ink on black.
	code, body = e.do("POST", "/api/v1/models/image/classify?return_input=1", "image/png", pngDigit(t, 100, 80, true))
	p := decode[classify.Response](t, body).Predictions[0]
	if code != 200 || !p.Preprocessed || p.Input == nil || p.Input.Width != 28 || len(p.Input.Pixels) != 28 {
		t.Fatalf("%d %s", code, body)
	}
	if p.Input.Pixels[0][0] != 0 || slices.Max(p.Input.Pixels[14]) < 200 {
		t.Fatalf("preprocessed input: corner %d, row 14 %v", p.Input.Pixels[0][0], p.Input.Pixels[14])
	}
	// The JSON body takes it as a field.
	rows := make([][]int, 28)
	for i := range rows {
		rows[i] = make([]int, 28)
	}
	rows[10][10] = 255
	code, body = e.postJSON("/api/v1/models/image/classify", map[string]any{"pixels": rows, "return_input": true})
	if in := decode[classify.Response](t, body).Predictions[0].Input; code != 200 || in == nil || in.Pixels[10][10] != 255 {
		t.Fatalf("JSON return_input: %d %s", code, body)
	}
}

// What return_input gives, sent back as pixels and fed as is, is classified
// with exactly the probabilities of the original drawing: it is what the model saw.
func TestShippedClassifyInput(t *testing.T) {
	e := shippedEnv(t)
	drawing := pngDigit(t, 100, 80, true)
	code, body := e.do("POST", "/api/v1/models/mnist/classify?return_input=true", "image/png", drawing)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	first := decode[classify.Response](t, body).Predictions[0]
	if !first.Preprocessed || first.Input == nil {
		t.Fatalf("%s", body)
	}
	code, body = e.postJSON("/api/v1/models/mnist/classify", map[string]any{"pixels": first.Input.Pixels, "preprocess": false})
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	again := decode[classify.Response](t, body).Predictions[0]
	if again.Preprocessed || !slices.Equal(again.Probs, first.Probs) {
		t.Fatalf("the returned input classifies as %v, the drawing as %v", again.Probs, first.Probs)
	}
	t.Logf("drawing classified %s (%.3f)", first.Label, first.Prob)
}
