package vision

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// idxBytes builds an idx file: magic, sizes, data.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIdx(t *testing.T) {
	dir := t.TempDir()
	pix := make([]byte, 2*3*4)
	for i := range pix {
		pix[i] = byte(i * 10)
	}
	images := idxBytes(IdxImagesMagic, []uint32{2, 3, 4}, pix)
	labels := idxBytes(IdxLabelsMagic, []uint32{2}, []byte{7, 3})
	for _, name := range []string{"plain", "gzip"} {
		ip, lp := writeFile(t, dir, name+"-images", images), writeFile(t, dir, name+"-labels", labels)
		if name == "gzip" {
			ip, lp = writeFile(t, dir, name+"-images", gz(images)), writeFile(t, dir, name+"-labels", gz(labels))
		}
		imgs, err := ReadIdxImages(ip)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(imgs) != 2 || imgs[1].Width != 4 || imgs[1].Height != 3 || imgs[1].Pix[0] != 120 || imgs[1].GrayAt(3, 2) != 230 {
			t.Errorf("%s images: %+v", name, imgs)
		}
		ls, err := ReadIdxLabels(lp)
		if err != nil || string(ls) != "\x07\x03" {
			t.Errorf("%s labels: %v %v", name, ls, err)
		}
		if _, err := ReadIdxImages(lp); !errors.Is(err, ErrBadIdx) || !strings.Contains(err.Error(), lp+": bad idx file: wrong magic number 2049 (0x00000801) (a labels file), want 2051") {
			t.Errorf("%s: labels read as images: %v", name, err)
		}
		if _, err := ReadIdxLabels(ip); !errors.Is(err, ErrBadIdx) || !strings.Contains(err.Error(), "wrong magic number 2051 (0x00000803) (an images file), want 2049") {
			t.Errorf("%s: images read as labels: %v", name, err)
		}
		head, _ := os.ReadFile(ip)
		if !IsIdx(head[:min(len(head), 64)]) {
			t.Errorf("%s: IsIdx false for an idx file", name)
		}
	}
	for _, c := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "the file is empty"},
		{"png", pngHeader(28, 28), "wrong magic number 0x89504e47, not an idx file"},
		{"floats", idxBytes(0x00000d03, []uint32{1, 1, 1}, make([]byte, 4)), "declares element type 0x0d; only unsigned bytes (0x08) are supported"},
		{"short magic", []byte{0, 0}, "truncated before the end of the magic number"},
		{"short header", idxBytes(IdxImagesMagic, []uint32{10}, nil), "truncated in the header of 3 dimension sizes"},
		{"short data", idxBytes(IdxImagesMagic, []uint32{2, 3, 4}, pix[:10]), "truncated: header [2 3 4] needs 24 bytes of data, the file has 10"},
		{"gzip short data", gz(idxBytes(IdxImagesMagic, []uint32{2, 3, 4}, pix[:10])), "truncated: header [2 3 4] needs 24 bytes of data, the file has 10"},
		{"gzip cut", gz(images)[:30], "the gzip stream ends early"},
		{"trailing", idxBytes(IdxImagesMagic, []uint32{2, 3, 4}, append(pix, 1)), "trailing bytes after the 24 bytes of data"},
		{"huge header", idxBytes(IdxImagesMagic, []uint32{60000, 60000, 60000}, nil), "announces more than 1073741824 bytes"},
	} {
		p := writeFile(t, dir, c.name, c.data)
		_, err := ReadIdxImages(p)
		if !errors.Is(err, ErrBadIdx) || !strings.HasPrefix(err.Error(), p+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want ErrBadIdx naming the file and saying %q", c.name, err, c.msg)
		}
	}
	if _, err := ReadIdxImages(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestMNISTData: the GoMNIST module's test set is found and reads as 10,000
// 28x28 images with labels 0..9.
func TestMNISTData(t *testing.T) {
	images, labels := mnistTest(t)
	if len(images) != 10000 || len(labels) != 10000 {
		t.Fatalf("%d images, %d labels", len(images), len(labels))
	}
	if images[0].Width != 28 || images[0].Height != 28 || labels[0] != 7 {
		t.Errorf("first image %dx%d label %d, want 28x28 label 7", images[0].Width, images[0].Height, labels[0])
	}
	_, _, err := MNISTTestFiles(t.TempDir())
	if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "has no t10k-images-idx3-ubyte.gz or t10k-labels-idx1-ubyte.gz") {
		t.Errorf("empty folder: %v", err)
	}
}

func TestDecodeJSON(t *testing.T) {
	row := func(w int, v int) string {
		s := make([]string, w)
		for i := range s {
			s[i] = "0"
		}
		s[0] = strconv.Itoa(v)
		return "[" + strings.Join(s, ",") + "]"
	}
	img2D := func(w, h, v int) string {
		rows := make([]string, h)
		for i := range rows {
			rows[i] = row(w, v)
		}
		return "[" + strings.Join(rows, ",") + "]"
	}
	for _, c := range []struct {
		name      string
		json      string
		n, w, h   int
		first     uint8
		wantError string
	}{
		{"2d", img2D(28, 28, 9), 1, 28, 28, 9, ""},
		{"flat", row(784, 200), 1, 28, 28, 200, ""},
		{"batch 2d", "[" + img2D(28, 28, 1) + "," + img2D(28, 28, 2) + "]", 2, 28, 28, 1, ""},
		{"batch flat", "[" + row(784, 3) + "," + row(784, 4) + "," + row(784, 5) + "]", 3, 28, 28, 3, ""},
		{"other size", img2D(50, 40, 255), 1, 50, 40, 255, ""},
		{"float integer", "[" + strings.Replace(row(784, 7), "7", "7.0", 1) + "]", 1, 28, 28, 7, ""},
		{"too big", row(784, 256), 0, 0, 0, 0, "pixel 0 is 256, want an integer 0..255"},
		{"negative", row(784, -1), 0, 0, 0, 0, "pixel 0 is -1"},
		{"fraction", strings.Replace(row(784, 7), "7", "7.5", 1), 0, 0, 0, 0, "pixel 0 is 7.5"},
		{"string", `[["a"]]`, 0, 0, 0, 0, `pixels[0][0] is a string`},
		{"ragged", `[[1,2],[3]]`, 0, 0, 0, 0, `pixels[1] has 1 entries, want 2`},
		{"flat wrong length", row(100, 1), 0, 0, 0, 0, "arrays of shape [100]; want [28,28], [784], [n,28,28] or [n,784]"},
		{"object", `{"a":1}`, 0, 0, 0, 0, "want arrays of pixels, got an object"},
		{"not json", `[1,2`, 0, 0, 0, 0, "not JSON"},
		{"two values", `[1] [2]`, 0, 0, 0, 0, "more than one JSON value"},
		{"empty rows", `[[]]`, 0, 0, 0, 0, "hold no pixels"},
		{"4d", `[[[[1]]]]`, 0, 0, 0, 0, "arrays of shape [1 1 1 1]"},
	} {
		imgs, err := DecodeJSON([]byte(c.json), 28, 28)
		if c.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantError) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.wantError)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(imgs) != c.n || imgs[0].Width != c.w || imgs[0].Height != c.h || imgs[0].Pix[0] != c.first || imgs[0].Validate() != nil {
			t.Errorf("%s: got %d images, first %dx%d pixel %d", c.name, len(imgs), imgs[0].Width, imgs[0].Height, imgs[0].Pix[0])
		}
	}
}
