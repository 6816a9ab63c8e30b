package vision

import (
	"bufio"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// go test ./runtime/vision -run TestTestdataDigits -update rewrites
// testdata/mnist: the first MNIST test image of each digit as a PNG
// (28x28, 8-bit grey, white ink on black, the idx pixels unchanged) and
// labels.txt, one "file label" line per PNG.
var update = flag.Bool("update", false, "rewrite testdata/mnist from the MNIST test set")

const digitsDir = "testdata/mnist"

// digit is one shipped test image.
type digit struct {
	File  string // path under the package folder
	Index int    // position in t10k
	Label int
}

// shippedDigits reads testdata/mnist/labels.txt.
func shippedDigits(t testing.TB) []digit {
	t.Helper()
	f, err := os.Open(filepath.Join(digitsDir, "labels.txt"))
	if err != nil {
		t.Fatalf("shipped digits: %v (regenerate with go test -run TestTestdataDigits -update)", err)
	}
	defer f.Close()
	var list []digit
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			t.Fatalf("labels.txt: bad line %q", sc.Text())
		}
		var idx int
		if _, err := fmt.Sscanf(fields[0], "t10k-%05d.png", &idx); err != nil {
			t.Fatalf("labels.txt: bad file name %q", fields[0])
		}
		label, err := strconv.Atoi(fields[1])
		if err != nil {
			t.Fatalf("labels.txt: bad label in %q", sc.Text())
		}
		list = append(list, digit{File: filepath.Join(digitsDir, fields[0]), Index: idx, Label: label})
	}
	if len(list) == 0 {
		t.Fatal("labels.txt lists no digits")
	}
	return list
}

func readPNG(t testing.TB, path string) Gray {
	t.Helper()
	img, _, err := DecodeFile(path, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return toGray(img)
}

// TestTestdataDigits checks that the shipped PNGs hold exactly the MNIST test
// images their names say, with the right labels; with -update it writes them.
func TestTestdataDigits(t *testing.T) {
	images, labels := mnistTest(t)
	if *update {
		if err := os.MkdirAll(digitsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for d := 0; d < 10; d++ {
			for i, l := range labels {
				if int(l) != d {
					continue
				}
				name := fmt.Sprintf("t10k-%05d.png", i)
				f, err := os.Create(filepath.Join(digitsDir, name))
				if err != nil {
					t.Fatal(err)
				}
				if err := png.Encode(f, images[i].Image()); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, fmt.Sprintf("%s %d", name, d))
				break
			}
		}
		if err := os.WriteFile(filepath.Join(digitsDir, "labels.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range shippedDigits(t) {
		g := readPNG(t, d.File)
		if g.Width != 28 || g.Height != 28 {
			t.Errorf("%s is %dx%d, want 28x28", d.File, g.Width, g.Height)
			continue
		}
		if string(g.Pix) != string(images[d.Index].Pix) {
			t.Errorf("%s differs from MNIST test image %d", d.File, d.Index)
		}
		if int(labels[d.Index]) != d.Label {
			t.Errorf("%s is labelled %d, MNIST says %d", d.File, d.Label, labels[d.Index])
		}
	}
}
