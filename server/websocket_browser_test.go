package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
)

// wsBrowserPage is a page that opens a WebSocket to each server named in
// its query and speaks the protocol by hand, as nats.ws does in a
// browser: text frames out, binary frames in. Each outcome lands in
// window.results: "ok" once its own message came back, else how the
// connection ended.
const wsBrowserPage = `<!doctype html><meta charset="utf-8"><title>ws</title><script>
window.results = {};
function run(name, url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    let text = "", sent = false;
    ws.onmessage = (ev) => {
      text += typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data);
      if (!sent && text.includes("INFO ")) {
        sent = true;
        ws.send('CONNECT {"verbose":false,"name":"browser"}\r\nSUB from.browser 1\r\n');
        ws.send("PUB from.browser 5\r\nhello\r\nPING\r\n");
      }
      if (text.includes("MSG from.browser 1 5\r\nhello\r\n")) { resolve("ok"); ws.close(); }
    };
    ws.onerror = () => resolve("error");
    ws.onclose = (e) => resolve("closed " + e.code);
  }).then((r) => { window.results[name] = r; });
}
const q = new URLSearchParams(location.search);
Promise.all([...q.entries()].map(([name, url]) => run(name, url))).then(() => { window.done = true; });
</script>`

// A real browser reaches the WebSocket port from a page of another
// origin when allowed_origins lists it (with per-message deflate, which
// Chromium always asks for), and is refused when same_origin is on; a TCP
// client sees the browser's message.
func TestWebsocketInBrowser(t *testing.T) {
	b := startBrowser(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(wsBrowserPage))
	}))
	defer page.Close()
	allowed := startWSServer(t, func(o *Options) {
		o.Websocket.AllowedOrigins = []string{page.URL}
		o.Websocket.Compression = true
	})
	same := startWSServer(t, func(o *Options) { o.Websocket.SameOrigin = true })
	tcp := connect(t, allowed)
	sub, _ := tcp.SubscribeSync("from.browser")
	tcp.Flush()

	q := url.Values{"allowed": {allowed.WebsocketURL()}, "same": {same.WebsocketURL()}}
	b.do(chromedp.Navigate(page.URL + "/?" + q.Encode()))
	b.waitFor("both connections settled", `window.done === true`)
	var results map[string]string
	if err := json.Unmarshal([]byte(b.text(`JSON.stringify(window.results)`)), &results); err != nil {
		t.Fatal(err)
	}
	if results["allowed"] != "ok" {
		t.Errorf("allowed origin: %q", results["allowed"])
	}
	if results["same"] == "ok" {
		t.Errorf("a page of another origin got through same_origin")
	}
	if m := nextMsg(t, sub); string(m.Data) != "hello" {
		t.Fatalf("tcp got %q", m.Data)
	}
}
