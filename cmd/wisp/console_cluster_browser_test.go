package main

// The console's replication views in a real browser (headless Chromium
// driven by chromedp, as the server package's console tests do), against
// a three-server cluster with an R3 stream: the stream's page shows its
// leader and two replicas, the stream list its replica count and leader,
// and the Cluster page the meta group.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"
)

// chromiumPath is the browser to drive: $WISP_CHROMIUM, chromium on the
// PATH, or Debian's /usr/bin/chromium.
func chromiumPath() (string, bool) {
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

func ciSet() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// startChromium starts a headless browser for t, or skips t without one
// (outside CI, where it must run).
func startChromium(t *testing.T) context.Context {
	t.Helper()
	path, ok := chromiumPath()
	if !ok {
		if ciSet() {
			t.Fatal("chromium not found and CI is set")
		}
		t.Skip("chromium not found; install it or set WISP_CHROMIUM to run this test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(path), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000))
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		if ciSet() {
			t.Fatalf("starting %s: %v", path, err)
		}
		t.Skipf("cannot start %s: %v", path, err)
	}
	return bctx
}

// pageWait polls a JavaScript predicate until it holds (30 s), retrying
// the errors of a page still loading.
func pageWait(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var err error
	for try := 0; try < 20; try++ {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
		if err == nil || !strings.Contains(err.Error(), "Cannot find context") && !strings.Contains(err.Error(), "navigated or closed") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, body)
	}
}

func pageText(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshot saves the page under $WISP_SCREENSHOT_DIR (else the test's
// artifact directory).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("WISP_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.ArtifactDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConsoleReplicatedStreamInBrowser(t *testing.T) {
	bctx := startChromium(t)
	nodes := startStreamCluster(t, "cb", 3)
	waitMetaLeader(t, nodes)
	_, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	publishAcked(t, js, "orders", 0, 20)
	var leader string
	waitLong(t, "a stream leader", func() bool { leader = streamLeader(nodes, js, "ORDERS"); return leader != "" })
	// Look from a server that does not lead the stream: its console's
	// stream info is answered by the leader, across the cluster.
	var via *streamNode
	for _, n := range nodes {
		if n.name != leader {
			via = n
			break
		}
	}
	base := "http://" + via.srv.MonitorAddr().String()

	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/#/stream/%24G/ORDERS")); err != nil {
		t.Fatal(err)
	}
	pageWait(t, bctx, "the leader and two replicas", `(() => {
		const rows = Array.from(document.querySelectorAll("#sd-replicas tbody tr"));
		return !document.getElementById("sd-cluster").hidden && rows.length === 3 &&
			rows.filter((r) => r.cells[1].textContent === "leader").length === 1 &&
			rows.filter((r) => r.cells[1].textContent === "follower").length === 2;
	})()`)
	shownLeader := pageText(t, bctx, `Array.from(document.querySelectorAll("#sd-replicas tbody tr")).find((r) => r.cells[1].textContent === "leader").cells[0].textContent`)
	if shownLeader != leader {
		t.Errorf("the page shows leader %q, stream info says %q", shownLeader, leader)
	}
	names := pageText(t, bctx, `Array.from(document.querySelectorAll("#sd-replicas tbody tr"), (r) => r.cells[0].textContent).sort().join(",")`)
	if names != "cb1,cb2,cb3" {
		t.Errorf("replicas shown: %s", names)
	}
	if got := pageText(t, bctx, `document.getElementById("sd-leader").textContent`); got != "leader "+leader {
		t.Errorf("leader line: %q", got)
	}
	// Once caught up, every follower is current with no lag.
	pageWait(t, bctx, "current followers", `Array.from(document.querySelectorAll("#sd-replicas tbody tr"))
		.filter((r) => r.cells[1].textContent === "follower").every((r) => r.cells[2].textContent === "yes" && r.cells[4].textContent === "0")`)
	screenshot(t, bctx, "console-stream-replicas.png")

	// The stream list: R3 and its leader.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/#/streams")); err != nil {
		t.Fatal(err)
	}
	pageWait(t, bctx, "the replica pill", `(() => {
		const p = document.querySelector('#streams-list .stream[data-name="ORDERS"] .pill.replicas');
		return p !== null && p.textContent === "R3 · leader `+leader+`";
	})()`)

	// The Cluster page: the meta group, every server listed, one leader.
	meta := waitMetaLeader(t, nodes)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/#/cluster")); err != nil {
		t.Fatal(err)
	}
	pageWait(t, bctx, "the meta group", `(() => {
		const rows = Array.from(document.querySelectorAll("#meta-table tbody tr"));
		return !document.getElementById("meta-panel").hidden && rows.length === 3 &&
			rows.filter((r) => r.cells[1].textContent === "leader").map((r) => r.cells[0].textContent).join() === "`+meta+`" &&
			document.getElementById("meta-leader").textContent === "leader `+meta+`";
	})()`)
	screenshot(t, bctx, "console-cluster-meta.png")
}
