package classify

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/task"
)

// expandFiles turns classify's arguments into the files to read: a folder
// gives its image files (by extension, sorted, not recursive, hidden ones left out), a pattern
// that names no file is a glob, "-" reads names from stdin and "@FILE" (or
// --files-from FILE) from a list file, one a line. Long lists thus need no
// long command line.
func expandFiles(args []string, filesFrom string, stdin io.Reader) ([]string, error) {
	if filesFrom != "" {
		args = append(args, "@"+filesFrom)
	}
	var files []string
	for _, a := range args {
		got, err := expandOne(a, stdin)
		if err != nil {
			return nil, err
		}
		files = append(files, got...)
	}
	if len(files) == 0 {
		return nil, task.Usagef("no image files given (arguments, a folder, a glob, - for stdin, @LIST or --files-from LIST)")
	}
	return files, nil
}

func expandOne(a string, stdin io.Reader) ([]string, error) {
	switch {
	case a == "-":
		return readList(stdin, "stdin")
	case strings.HasPrefix(a, "@"):
		f, err := os.Open(a[1:])
		if err != nil {
			return nil, task.Usagef("file list %s: %v", a[1:], err)
		}
		defer f.Close()
		return readList(f, a[1:])
	}
	st, err := os.Stat(a)
	switch {
	case err == nil && st.IsDir():
		return folderFiles(a)
	case err != nil && strings.ContainsAny(a, "*?["):
		m, gerr := filepath.Glob(a)
		if gerr != nil || len(m) == 0 {
			return nil, task.Usagef("%q matches no file", a)
		}
		return m, nil
	}
	return []string{a}, nil // a missing file is reported when it is read
}

func readList(r io.Reader, name string) ([]string, error) {
	var files []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
			files = append(files, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the file list from %s: %w", name, err)
	}
	return files, nil
}

// imageName reports whether a folder's file is one classify reads, by its name.
func imageName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".gif", ".json", ".idx", ".gz":
		return true
	}
	return strings.Contains(name, "-ubyte")
}

// folderFiles lists a folder's image files, sorted.
func folderFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") && imageName(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}
