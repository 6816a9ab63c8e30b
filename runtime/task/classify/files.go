package classify

import (
	"context"
	"fmt"
	"image"
	"net/http"

	"github.com/rnnrun/rnnrun/runtime/task"
)

// File is one encoded image file (PNG, JPEG or GIF) and the name its errors give.
type File struct {
	Name string
	Data []byte
}

// ClassifyFiles classifies encoded image files as the classify route does a
// multipart body (auto preprocessing), under the call's limits and decode
// budget: at most MaxImages files, MaxPixels each and 4 times that together,
// each decoded inside the budget one at a time. Errors name the file.
func (in *Instance) ClassifyFiles(ctx context.Context, c *task.Call, files []File) ([]Classification, error) {
	lim := c.Limits
	if len(files) == 0 {
		return nil, task.NewError(http.StatusBadRequest, "no_images", "the request holds no images")
	}
	if len(files) > lim.MaxImages {
		return nil, tooMany(len(files), lim.MaxImages)
	}
	inputs := make([]input, len(files))
	var budget pixelBudget
	for i, f := range files {
		cfg, err := probe(c, f.Data)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", f.Name, err)
		}
		if err := budget.add(cfg, lim.MaxPixels); err != nil {
			return nil, err
		}
		inputs[i] = input{name: f.Name, data: f.Data, cfg: cfg}
	}
	images, results, err := prepareAll(c, in.cls, inputs, nil, false)
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

// pixelBudget bounds the decoded pixels of one request to maxRequestImages
// images of the largest size, so many small, highly compressed files cannot
// take unbounded memory.
type pixelBudget struct{ pixels int64 }

func (p *pixelBudget) add(cfg image.Config, maxPixels int) error {
	if p.pixels += int64(cfg.Width) * int64(cfg.Height); p.pixels > int64(maxRequestImages)*int64(maxPixels) {
		return task.NewError(http.StatusRequestEntityTooLarge, "image_too_large",
			fmt.Sprintf("the images hold more than %d pixels together (%d times the limit of one image)", int64(maxRequestImages)*int64(maxPixels), maxRequestImages))
	}
	return nil
}
