package server

// The console in a real browser: headless Chromium driven over the DevTools
// protocol by chromedp. It loads the console from a live server, checks what
// the pages show, and saves screenshots. Without Chromium the test skips,
// except under CI, where a browser that cannot start is a failure (.ci/run
// installs Debian's chromium package).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
)

// browserTestTimeout bounds the whole test, browser start included: generous,
// for a loaded machine under -race.
const browserTestTimeout = 120 * time.Second

// findChromium returns the browser to drive: $WISP_CHROMIUM, else chromium
// on the PATH, else Debian's /usr/bin/chromium.
func findChromium() (string, bool) {
	if p := os.Getenv("WISP_CHROMIUM"); p != "" {
		return p, true
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, true
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", true
	}
	return "", false
}

// inCI reports whether the test runs in CI, where it may not skip.
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// screenshotDir is $WISP_SCREENSHOT_DIR when set, else the test's artifact
// directory (kept with go test -artifacts -outputdir DIR; DIR must exist).
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("WISP_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.ArtifactDir()
}

// browser is a headless Chromium session for one test, with helpers to
// wait for, read and photograph what a page shows.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // where screenshots go
}

// startBrowser starts Chromium for t: without a browser (or one that cannot
// start) the test skips, except under CI, where it fails. The browser stops
// when the test ends.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	chromium, ok := findChromium()
	if !ok {
		if inCI() {
			t.Fatal("chromium not found and CI is set: install Debian's chromium package (.ci/run does)")
		}
		t.Skip("chromium not found; install it (apt-get install chromium) or set WISP_CHROMIUM to run this test")
	}

	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)

	// Starting the browser is the step that may fail for reasons outside
	// this code (missing libraries, no /dev/shm): skip then, unless in CI.
	if err := chromedp.Do(bctx); err != nil { // with no steps, Do just starts the browser
		if inCI() {
			t.Fatalf("starting %s: %v", chromium, err)
		}
		t.Skipf("cannot start %s: %v", chromium, err)
	}
	return &browser{t: t, ctx: bctx, dir: screenshotDir(t)}
}

// do runs chromedp actions, failing the test on error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// shoot saves a screenshot of the page under name and logs its path.
func (b *browser) shoot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// waitFor polls a JavaScript predicate in the page. Just after a
// navigation the page's JavaScript context may not be registered yet
// ("Cannot find context"), or a poll begun before it may be cut off
// ("navigated or closed"): those errors are retried.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	var err error
	for try := 0; try < 20; try++ {
		_, err = chromedp.Run(b.ctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(100*time.Millisecond),
			chromedp.WithPollingTimeout(15*time.Second)))
		if err == nil || !strings.Contains(err.Error(), "Cannot find context") && !strings.Contains(err.Error(), "navigated or closed") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		b.t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, body)
	}
}

// text evaluates a JavaScript expression that yields a string.
func (b *browser) text(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func TestConsoleInBrowser(t *testing.T) {
	b := startBrowser(t)
	s := startMonitored(t, func(o *Options) { o.ServerName = "wisp-demo" })
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return fakeJetStream, nil })
	names := []string{"orders-service", "billing-worker", "audit-log"}
	conns := make([]*nats.Conn, len(names))
	for i, name := range names {
		conns[i] = connect(t, s, nats.Name(name))
		if _, err := conns[i].Subscribe(fmt.Sprintf("demo.%d.>", i), func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conns[2].QueueSubscribe("demo.>", "auditors", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	// Steady traffic while the browser watches, so the chart has a line.
	payload := make([]byte, 256)
	defer steadyTraffic(func(n int) {
		for i := 0; i < 1+n%7; i++ {
			conns[0].Publish(fmt.Sprintf("demo.%d.tick", i%3), payload)
		}
	})()

	// Overview: three connections, live rates, a chart with history.
	b.do(
		chromedp.Navigate(monURL(s, "/#/overview")),
		chromedp.WaitVisible("#stat-connections"),
	)
	b.waitFor("3 connections on the overview", `document.getElementById("stat-connections").textContent === "3"`)
	b.waitFor("the health badge", `document.getElementById("health").textContent === "healthy"`)
	b.waitFor("message rates", `document.getElementById("stat-in-rate").textContent !== "–"`)
	if got := b.text(`document.getElementById("server-name").textContent`); got != "wisp-demo" {
		t.Errorf("server name shown: %q", got)
	}
	// A few more seconds of history make a chart worth looking at.
	b.do(chromedp.Sleep(4 * time.Second))
	b.shoot("console-overview.png")

	// Connections: the three names from CONNECT.
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = "#/connections"`))
	b.waitFor("3 rows in the connections table", `document.querySelectorAll("#conn-table tbody tr").length === 3`)
	shown, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#conn-table tbody tr td:nth-child(2)"), td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shown, names) {
		t.Errorf("names shown %q, want %q", shown, names)
	}
	if got := b.text(`document.getElementById("conn-count").textContent`); got != "3" {
		t.Errorf("connection count shown: %q", got)
	}
	b.shoot("console-connections.png")

	// Subscriptions, filtered as a person would type.
	b.do(
		chromedp.Evaluate[chromedp.Void](`location.hash = "#/subscriptions"`),
		chromedp.SendKeys("#subs-filter", "demo.1"),
	)
	b.waitFor("the filtered subscription", `(() => {
		const rows = document.querySelectorAll("#subs-table tbody tr");
		return rows.length === 1 && rows[0].cells[0].textContent === "demo.1.>" && rows[0].cells[2].textContent.includes("billing-worker");
	})()`)
	// Its Delivered column counts the ticks it received (no max is set).
	b.waitFor("a delivered count", `(() => {
		const row = document.querySelector("#subs-table tbody tr");
		return row !== null && /^[1-9][0-9,]*$/.test(row.cells[4].textContent);
	})()`)

	// Streams, from the fake stream layer.
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = "#/streams"`))
	b.waitFor("two streams", `document.querySelectorAll("#streams-list .stream").length === 2`)
	if got := b.text(`document.querySelector("#streams-list .stream h2").textContent`); got != "ORDERS" {
		t.Errorf("first stream shown: %q", got)
	}
	b.shoot("console-streams.png")

	// Without a stream layer the page says so.
	s.SetJetStreamReporter(nil)
	b.waitFor("the not-enabled notice", `!document.getElementById("streams-off").hidden`)
}

// steadyTraffic calls publish every 5ms, with a count, until the returned
// stop is called: live rates for a browser to watch.
func steadyTraffic(publish func(n int)) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-quit:
				return
			case <-tick.C:
				publish(n)
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}
