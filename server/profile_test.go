package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestProfilingPort: prof_port serves pprof on a listener of its own, the
// monitoring port does not, and shutdown closes it.
func TestProfilingPort(t *testing.T) {
	s := startServer(t, func(o *Options) { o.HTTPHost, o.HTTPPort, o.ProfPort = "127.0.0.1", -1, -1 })
	prof := "http://" + s.ProfAddr().String()
	if code, body := httpGet(t, prof+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("index: %d %.200s", code, body)
	}
	if code, body := httpGet(t, prof+"/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Fatalf("heap: %d %.200s", code, body)
	}
	if code, body := httpGet(t, prof+"/debug/pprof/profile?seconds=1"); code != 200 || len(body) == 0 {
		t.Fatalf("cpu profile: %d, %d bytes", code, len(body))
	}
	if code, _ := httpGet(t, "http://"+s.MonitorAddr().String()+"/debug/pprof/"); code != 404 {
		t.Fatalf("monitoring port serves pprof: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := (&http.Client{Timeout: 2 * time.Second}).Get(prof + "/debug/pprof/"); err == nil {
		t.Fatal("profiling port still open after shutdown")
	}
}

func TestProfilingOffByDefault(t *testing.T) {
	s := startServer(t, nil)
	if s.ProfAddr() != nil {
		t.Fatalf("profiling on: %v", s.ProfAddr())
	}
}
