package classify

import (
	"context"
	"fmt"
	"image"
	"net/http"

	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// File is one encoded image file (PNG, JPEG or GIF) and the name its errors give.
type File struct {
	Name string
	Data []byte
}

// ClassifyFiles classifies encoded image files as the classify route does a
// multipart body (auto preprocessing), under the same limits: at most
// lim.MaxImages files, lim.MaxPixels each and 4 times that together. Errors
// name the file.
func (in *Instance) ClassifyFiles(ctx context.Context, files []File, lim task.Limits) ([]Classification, error) {
	if len(files) == 0 {
		return nil, task.NewError(http.StatusBadRequest, "no_images", "the request holds no images")
	}
	if len(files) > lim.MaxImages {
		return nil, tooMany(len(files), lim.MaxImages)
	}
	inputs := make([]input, len(files))
	var budget pixelBudget
	for i, f := range files {
		img, err := decodeFile(f.Data, lim)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", f.Name, err)
		}
		if err := budget.add(img, lim.MaxPixels); err != nil {
			return nil, err
		}
		inputs[i] = input{name: f.Name, img: img}
	}
	images, results, err := prepareAll(in.cls, inputs, nil, false)
	if err != nil && len(files) == 1 {
		err = fmt.Errorf("image %q: %w", files[0].Name, err)
	}
	if err != nil {
		return nil, err
	}
	preds, err := in.cls.Classify(ctx, images)
	if err != nil {
		return nil, err
	}
	for i := range preds {
		results[i].Prediction = preds[i]
	}
	return results, nil
}

func decodeFile(data []byte, lim task.Limits) (image.Image, error) {
	img, _, err := vision.DecodeBytes(data, vision.DecodeOptions{MaxPixels: lim.MaxPixels, MaxBytes: lim.MaxBodyBytes})
	return img, err
}

// pixelBudget bounds the decoded pixels of one request to maxRequestImages
// images of the largest size, so many small, highly compressed files cannot
// take unbounded memory.
type pixelBudget struct{ pixels int64 }

func (p *pixelBudget) add(img image.Image, maxPixels int) error {
	b := img.Bounds()
	if p.pixels += int64(b.Dx()) * int64(b.Dy()); p.pixels > int64(maxRequestImages)*int64(maxPixels) {
		return task.NewError(http.StatusRequestEntityTooLarge, "image_too_large",
			fmt.Sprintf("the images hold more than %d pixels together (%d times the limit of one image)", int64(maxRequestImages)*int64(maxPixels), maxRequestImages))
	}
	return nil
}
