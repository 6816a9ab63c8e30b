// Package playground is the browser page `rnnrun serve` shows at `/`: watch a
// text model write (one temperature or the tutorial's 0.2, 0.6 and 1.2 side
// by side), draw a digit and see the ten probabilities move, and follow the
// models' versions through hot swaps.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary (no build
// step, nothing fetched from the network; its Content-Security-Policy allows
// only its own origin). It talks to the server only through rnnrun's HTTP API
// (docs/api.md), by paths relative to the page, so it also works when the API
// is mounted under a prefix. Every API path the page uses is in static/api.js.
package playground

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// AssetPrefix is the path under which the page's scripts and styles are served.
const AssetPrefix = "/playground/"

// Handler serves the page at "/" and its assets under AssetPrefix; every
// other path is a 404.
func Handler() http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := assetName(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if _, err := fs.Stat(static, name); err != nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache") // a new binary shows its own page at once
		http.ServeFileFS(w, r, static, name)
	})
}

// contentSecurityPolicy lets the page load and fetch only from its own origin
// (pictures it makes itself are blob: and data: URLs).
const contentSecurityPolicy = "default-src 'self'; img-src 'self' blob: data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// assetName maps a request path to a file of static/.
func assetName(p string) (string, bool) {
	if p == "/" || p == "" {
		return "index.html", true
	}
	rest, ok := strings.CutPrefix(p, AssetPrefix)
	if !ok || rest == "" || rest == "index.html" || strings.Contains(rest, "/") || path.Clean(rest) != rest {
		return "", false
	}
	return rest, true
}
