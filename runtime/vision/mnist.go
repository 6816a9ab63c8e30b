package vision

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The MNIST test set's file names, tried with and without ".gz".
const (
	MNISTTestImages = "t10k-images-idx3-ubyte"
	MNISTTestLabels = "t10k-labels-idx1-ubyte"
)

// MNISTTestFiles returns the test images and labels files in dir (the .gz
// files, else uncompressed ones), or an ErrNoData error naming what is missing.
// The library only takes a folder; where the default one is (the pinned
// GoMNIST Go module) is the CLI's business (internal/mnistdata).
func MNISTTestFiles(dir string) (images, labels string, err error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNoData, err)
	}
	if !st.IsDir() {
		return "", "", fmt.Errorf("%w: %s is not a folder", ErrNoData, dir)
	}
	find := func(name string) string {
		for _, n := range []string{name + ".gz", name} {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p
			}
		}
		return ""
	}
	images, labels = find(MNISTTestImages), find(MNISTTestLabels)
	var missing []string
	if images == "" {
		missing = append(missing, MNISTTestImages+".gz")
	}
	if labels == "" {
		missing = append(missing, MNISTTestLabels+".gz")
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("%w: %s has no %s (or uncompressed)", ErrNoData, dir, strings.Join(missing, " or "))
	}
	return images, labels, nil
}

// LoadMNISTTest reads the test images and labels in dir and checks they pair up.
func LoadMNISTTest(dir string) ([]Gray, []uint8, error) {
	ip, lp, err := MNISTTestFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	images, err := ReadIdxImages(ip)
	if err != nil {
		return nil, nil, err
	}
	labels, err := ReadIdxLabels(lp)
	if err != nil {
		return nil, nil, err
	}
	if len(images) != len(labels) {
		return nil, nil, fmt.Errorf("%w: %s holds %d images but %s holds %d labels", ErrBadIdx, ip, len(images), lp, len(labels))
	}
	return images, labels, nil
}
