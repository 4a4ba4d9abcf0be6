package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// The web console: a few static files embedded in the binary, which poll
// the JSON endpoints from the browser. No build step, nothing fetched from
// elsewhere (the Content-Security-Policy below forbids it).

//go:embed console
var consoleFiles embed.FS

// consoleAsset is one embedded file, ready to serve.
type consoleAsset struct {
	body        []byte
	contentType string
	etag        string
}

// consoleTypes are the console's content types, fixed here rather than
// taken from mime.TypeByExtension, which reads the host's /etc/mime.types.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
}

// consoleAssets maps a URL path ("/", "/console/app.js") to its file. Built
// once: the files never change while the binary runs.
var consoleAssets = loadConsoleAssets()

func loadConsoleAssets() map[string]consoleAsset {
	out := make(map[string]consoleAsset)
	err := fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct, ok := consoleTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("%s: no content type for this extension", p)
		}
		a := consoleAsset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		out["/"+p] = a
		if p == "console/index.html" {
			out["/"] = a
		}
		return nil
	})
	if err != nil {
		panic("server: embedded console: " + err.Error()) // a build problem, not a runtime one
	}
	return out
}

// consoleCSP allows only this origin: the console must work on a closed
// network, and client-supplied names it displays can never pull in scripts.
const consoleCSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

func (s *Server) registerConsole(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", serveConsole)
	mux.HandleFunc("GET /console/", serveConsole)
}

// serveConsole sends an embedded file. Browsers revalidate on every load
// (no-cache) and get 304 while the ETag, a hash of the content, matches, so
// a new binary's console is never mixed with a cached old script.
func serveConsole(w http.ResponseWriter, r *http.Request) {
	a, ok := consoleAssets[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, "no such page: "+r.URL.Path)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
