package classify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// Commands implements task.Commander: `rnnrun classify --model FILE IMAGE...`.
func (Task) Commands(cli task.CLI) []*cobra.Command {
	cmd := &cobra.Command{
		Use:   "classify --model FILE [flags] IMAGE...",
		Short: "Classify images (PNG, JPEG, GIF, MNIST idx files, JSON pixel arrays)",
		Long: `classify runs an image-classification model (such as models/export/mnist.onnx)
on each file and prints one line per image: the path, the label and its probability.

  rnnrun classify --model models/export/mnist.onnx a.png b.jpg

PNG, JPEG and GIF pictures of any size and colour are preprocessed as MNIST was
made (grey, light ink on dark, cropped to the ink, scaled to fit 20x20, centred by
mass in 28x28); --raw feeds their pixels as they are instead. MNIST idx image files
(.gz or plain) and JSON pixel arrays of the model's size are fed as they are; an
idx file prints one line per image, named FILE[i]. A file that cannot be read is
reported on stderr and the others are still classified; the exit status is then 1.

A folder stands for its image files (.png, .jpg, .gif, .json, idx), a quoted pattern ('digits/*.png') for the files
it matches, - for names read from stdin and @LIST (or --files-from LIST) for
names read from a file, one a line:

  find digits -name '*.png' | rnnrun classify --model models/export/mnist.onnx -`,
		RunE: func(cmd *cobra.Command, files []string) error { return run(cli, cmd, files) },
	}
	fs := cmd.Flags()
	cli.AddModelFlags(fs)
	AddFlags(fs)
	fs.Int("top-k", 1, "print the K most probable labels of each image")
	fs.Bool("json", false, "print JSON: {\"model\", \"results\": [{\"file\", \"label\", \"prob\", \"top_k\", \"probs\"} or {\"file\", \"error\"}]}")
	fs.Bool("raw", false, "feed pictures' pixels as they are (grey, no preprocessing); they must have the model's size")
	fs.Int("max-pixels", vision.DefaultMaxPixels, "largest picture decoded, in pixels (width*height)")
	fs.String("files-from", "", "read the image file names from this file, one a line (- for stdin)")
	return []*cobra.Command{cmd}
}

// AddFlags adds the flags classify and eval share.
func AddFlags(fs *pflag.FlagSet) {
	fs.Int("batch-size", vision.DefaultBatchSize, "images per model call")
	fs.Int("workers", 0, "batches run at once (0: the CPU count divided by --threads)")
}

// Options reads the shared flags; errors are usage errors (task.UsageError).
func Options(v *viper.Viper, topK int) (vision.Options, error) {
	batch, workers, threads := v.GetInt("batch-size"), v.GetInt("workers"), v.GetInt("threads")
	if batch < 1 {
		return vision.Options{}, task.Usagef("--batch-size must be at least 1, got %d", batch)
	}
	if workers < 0 {
		return vision.Options{}, task.Usagef("--workers must not be negative, got %d", workers)
	}
	if workers == 0 {
		workers = max(1, runtime.GOMAXPROCS(0)/max(1, threads))
	}
	return vision.Options{BatchSize: batch, Workers: workers, TopK: topK}, nil
}

// classifyItem is one image to classify, or a file that failed.
type classifyItem struct {
	file  string
	index int // position in an idx or JSON batch file; -1 for a single image
	img   vision.Gray
	err   error
}

// name is how the image is printed: the path, with [i] inside a multi-image file.
func (it classifyItem) name() string {
	if it.index < 0 {
		return it.file
	}
	return fmt.Sprintf("%s[%d]", it.file, it.index)
}

// classifyJSON is one entry of `classify --json`.
type classifyJSON struct {
	File  string         `json:"file"`
	Image *int           `json:"image,omitempty"`
	Error string         `json:"error,omitempty"`
	Index *int           `json:"index,omitempty"`
	Label string         `json:"label,omitempty"`
	Prob  *float32       `json:"prob,omitempty"`
	TopK  []vision.Class `json:"top_k,omitempty"`
	Probs []float32      `json:"probs,omitempty"`
}

func run(cli task.CLI, cmd *cobra.Command, files []string) error {
	v, err := cli.Config(cmd)
	if err != nil {
		return err
	}
	topK, maxPixels := v.GetInt("top-k"), v.GetInt("max-pixels")
	if topK < 1 {
		return task.Usagef("--top-k must be at least 1, got %d", topK)
	}
	if maxPixels < 1 {
		return task.Usagef("--max-pixels must be at least 1, got %d", maxPixels)
	}
	opts, err := Options(v, topK)
	if err != nil {
		return err
	}
	from, _ := cmd.Flags().GetString("files-from")
	if from == "-" {
		files, from = append(files, "-"), ""
	}
	if files, err = expandFiles(files, from, cmd.InOrStdin()); err != nil {
		return err
	}
	return task.WithModel(cmd.Context(), cli, v, func(m *model.Model) error {
		return classifyFiles(cmd.Context(), cli, v, m, opts, files)
	})
}

// classifyFiles classifies every image of the files and prints one line (or
// a JSON entry) per image; a file that fails is reported on stderr and counted.
func classifyFiles(ctx context.Context, cli task.CLI, v *viper.Viper, m *model.Model, opts vision.Options, files []string) error {
	maxPixels := v.GetInt("max-pixels")
	c, err := vision.NewClassifier(m, opts)
	if err != nil {
		return err
	}
	raw := v.GetBool("raw")
	var items []classifyItem
	for _, f := range files {
		items = append(items, loadForClassify(c, f, raw, vision.DecodeOptions{MaxPixels: maxPixels})...)
	}
	var images []vision.Gray
	for _, it := range items {
		if it.err == nil {
			images = append(images, it.img)
		}
	}
	preds, err := c.Classify(ctx, images)
	if err != nil {
		return err
	}
	failed := map[string]bool{}
	var results []classifyJSON
	var out bytes.Buffer
	k := 0
	for _, it := range items {
		if it.err != nil {
			failed[it.file] = true
			fmt.Fprintf(cli.Stderr(), "rnnrun: %v\n", it.err)
			results = append(results, classifyJSON{File: it.file, Error: it.err.Error()})
			continue
		}
		p := preds[k]
		k++
		r := classifyJSON{File: it.file, Index: &p.Index, Label: p.Label, Prob: &p.Prob, TopK: p.TopK, Probs: p.Probs}
		if it.index >= 0 {
			r.Image = &it.index
		}
		results = append(results, r)
		fmt.Fprintf(&out, "%s %s %.3f", it.name(), p.Label, p.Prob)
		for _, tk := range p.TopK[1:] {
			fmt.Fprintf(&out, " %s %.3f", tk.Label, tk.Prob)
		}
		out.WriteByte('\n')
	}
	if v.GetBool("json") {
		enc := json.NewEncoder(cli.Stdout())
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Model   string         `json:"model"`
			Results []classifyJSON `json:"results"`
		}{m.Path(), results}); err != nil {
			return err
		}
	} else if _, err := io.Copy(cli.Stdout(), &out); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d files could not be classified", len(failed), len(files))
	}
	return nil
}

// loadForClassify reads one file into the images it holds, ready for the
// model, or a single item carrying the error (which names the file).
func loadForClassify(c *vision.Classifier, path string, raw bool, dopts vision.DecodeOptions) []classifyItem {
	fail := func(err error) []classifyItem { return []classifyItem{{file: path, index: -1, err: err}} }
	w, h := c.Size()
	head, err := readHead(path, 8192) // enough for a gzip header and the first deflate block header
	if err != nil {
		return fail(err)
	}
	switch {
	case vision.IsIdx(head):
		idx, err := vision.ReadIdxFile(path)
		if err != nil {
			return fail(err)
		}
		imgs, err := idx.Images(path)
		if err != nil {
			return fail(err)
		}
		if len(imgs) == 0 {
			return fail(fmt.Errorf("%s: the idx file holds no images", path))
		}
		if err := c.Check(imgs[0]); err != nil {
			return fail(fmt.Errorf("%s: idx images: %w", path, err))
		}
		items := make([]classifyItem, len(imgs))
		for i, g := range imgs {
			items[i] = classifyItem{file: path, index: i, img: g}
		}
		return items
	case strings.EqualFold(filepath.Ext(path), ".json") || bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("[")):
		if st, err := os.Stat(path); err == nil && st.Size() > vision.DefaultMaxBytes {
			return fail(fmt.Errorf("%s: %w: the file is larger than the limit of %d bytes", path, vision.ErrTooLarge, vision.DefaultMaxBytes))
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fail(err)
		}
		imgs, err := vision.DecodeJSON(data, w, h)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", path, err))
		}
		items := make([]classifyItem, len(imgs))
		for i, g := range imgs {
			items[i] = classifyItem{file: path, index: i, img: g}
			if len(imgs) == 1 {
				items[i].index = -1
			}
			if g.Width == w && g.Height == h {
				continue // pixel arrays of the model's size are fed as given
			}
			if raw {
				items[i].err = fmt.Errorf("%s: image %d: %w (--raw feeds pixels as they are)", path, i, c.Check(g))
				continue
			}
			if items[i].img, err = c.Prepare(g); err != nil {
				items[i].err = fmt.Errorf("%s: image %d: %w", path, i, err)
			}
		}
		return items
	}
	img, _, err := vision.DecodeFile(path, dopts)
	if err != nil {
		return fail(err)
	}
	var g vision.Gray
	if raw {
		g = vision.ToGray(img)
		if err := c.Check(g); err != nil {
			return fail(fmt.Errorf("%s: %w (--raw feeds pixels as they are)", path, err))
		}
	} else if g, err = c.Prepare(img); err != nil {
		return fail(fmt.Errorf("%s: %w", path, err))
	}
	return []classifyItem{{file: path, index: -1, img: g}}
}

// readHead returns up to n bytes from the start of the file.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: is a folder, not a file", path)
	}
	buf := make([]byte, n)
	k, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return buf[:k], nil
}
