package server

// The console's management pages in a real browser: an operator logs in,
// browses a stream's messages, publishes, deletes a consumer, purges and
// closes a connection; each effect is checked through nats.go.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// run evaluates JavaScript for its effect.
func (b *browser) run(expr string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](expr))
}

// setValue sets an input's value as typing would.
func (b *browser) setValue(id, value string) {
	b.t.Helper()
	v, _ := json.Marshal(value)
	b.run(fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %s; e.dispatchEvent(new Event("input")); })()`, id, v))
}

// click clicks the first element matching a CSS selector.
func (b *browser) click(selector string) {
	b.t.Helper()
	b.waitFor("clickable "+selector, fmt.Sprintf(`document.querySelector(%q) !== null`, selector))
	b.run(fmt.Sprintf(`document.querySelector(%q).click()`, selector))
}

func TestConsoleManageInBrowser(t *testing.T) {
	b := startBrowser(t)
	s, log := startConsoleServer(t, consoleUsers)
	ctx := testCtx(t)
	_, js := jsFor(t, s, "bob", "bob-pw")
	str, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 30; i++ {
		m := nats.NewMsg("orders." + []string{"us", "eu"}[i%2])
		m.Header.Set("Order-Id", strconv.Itoa(i))
		m.Data = []byte(fmt.Sprintf(`{"order":%d,"items":["tea","cups"]}`, i))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"audit", "billing"} {
		if _, err := str.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
	}
	victim := connect(t, s, nats.UserInfo("bob", "bob-pw"), nats.Name("misbehaving-client"), nats.NoReconnect())
	connect(t, s, nats.UserInfo("carol", "carol-pw"), nats.Name("other-account"))
	gone := make(chan struct{})
	victim.SetClosedHandler(func(*nats.Conn) { close(gone) })

	// The console asks for a login; a wrong password is refused on the page.
	b.do(chromedp.Navigate(monURL(s, "/#/streams")))
	b.waitFor("the login form", `!document.getElementById("login").hidden`)
	b.shoot("console-login.png")
	b.setValue("login-user", "alice")
	b.setValue("login-password", "wrong")
	b.click("#login-submit")
	b.waitFor("the refusal", `document.getElementById("login-error").textContent.includes("wrong user or password")`)
	b.setValue("login-password", "alice-pw")
	b.click("#login-submit")
	b.waitFor("alice logged in", `document.getElementById("who-user").textContent === "alice" && document.getElementById("login").hidden`)
	b.waitFor("operator buttons", `document.body.classList.contains("can-act")`)
	// A server that is not clustered shows no replicas on its streams,
	// though /jsz names it every stream's leader.
	b.waitFor("ORDERS listed without a replicas pill", `(() => {
		const s = document.querySelector('#streams-list .stream[data-name="A/ORDERS"]');
		return s !== null && s.querySelector(".pill.replicas") === null;
	})()`)

	// The stream's page: figures, consumers, and the first page of messages.
	b.run(`location.hash = "#/stream/A/ORDERS"`)
	b.waitFor("two consumers", `document.querySelectorAll("#sd-consumers tbody tr").length === 2`)
	b.waitFor("no cluster panel", `document.getElementById("sd-name").textContent === "ORDERS" && document.getElementById("sd-cluster").hidden`)
	b.waitFor("20 messages from #1", `(() => {
		const m = document.querySelectorAll("#msg-list .msg");
		return m.length === 20 && m[0].dataset.seq === "1" && m[0].querySelector(".msg-headers").textContent.includes("Order-Id: 1");
	})()`)
	b.click("#msg-next")
	b.waitFor("the next page from #21", `(() => {
		const m = document.querySelectorAll("#msg-list .msg");
		return m.length === 10 && m[0].dataset.seq === "21";
	})()`)
	// Filtered by subject, pretty-printed as JSON.
	b.setValue("browse-subject", "orders.eu")
	b.run(`document.getElementById("browse-view").value = "json"`)
	b.click("#browse-go")
	b.waitFor("orders.eu as JSON", `(() => {
		const m = Array.from(document.querySelectorAll("#msg-list .msg"));
		return m.length === 15 && m.every((x) => x.querySelector("code").textContent === "orders.eu") &&
			m[0].dataset.seq === "1" && m[0].querySelector(".msg-data").textContent.includes('\n  "order": 1');
	})()`)
	b.run(`window.scrollTo(0, 0)`)
	b.shoot("console-stream.png")
	b.run(`document.getElementById("sd-messages").scrollIntoView()`)
	b.shoot("console-messages.png")

	// The rate chart draws on the server's samples, which outlive the
	// page: after a reload with the page's own store cleared, it still
	// has history.
	b.waitFor("server samples", `document.getElementById("sd-chart-msgs").dataset.source === "server"`)
	b.run(`sessionStorage.clear()`)
	b.do(chromedp.Reload())
	b.waitFor("history after a reload", `(() => {
		const c = document.getElementById("sd-chart-msgs");
		const spark = document.querySelector('#sd-consumers tr[data-consumer="audit"] canvas');
		return document.getElementById("sd-name").textContent === "ORDERS" && c.dataset.source === "server" && Number(c.dataset.points) >= 2 &&
			spark !== null && spark.dataset.source === "server";
	})()`)

	// Publish with a header, and see the stream's ack.
	b.click("#sd-publish")
	b.waitFor("the publish form", `document.getElementById("form-dialog").open`)
	b.setValue("f-subject", "orders.eu")
	b.setValue("f-headers", "Source: browser")
	b.setValue("f-payload", `{"order":31}`)
	b.click("#form-ok")
	b.waitFor("the ack", `document.getElementById("form-result").textContent.includes('"seq":31')`)
	b.shoot("console-publish.png")
	b.click("#form-cancel")
	m, err := str.GetMsg(ctx, 31)
	if err != nil || string(m.Data) != `{"order":31}` || m.Header.Get("Source") != "browser" {
		t.Fatalf("published message: %v %+v", err, m)
	}

	// Delete a consumer, confirming.
	b.click(`#sd-consumers tr[data-consumer="audit"] button.danger`)
	b.waitFor("the confirmation", `document.getElementById("confirm").open`)
	b.click("#confirm-ok")
	b.waitFor("one consumer left", `document.querySelectorAll("#sd-consumers tbody tr").length === 1`)
	if _, err := str.Consumer(ctx, "audit"); err == nil {
		t.Error("consumer audit still exists")
	}

	// Purge one subject, confirming.
	b.click("#sd-purge")
	b.waitFor("the purge form", `document.getElementById("form-dialog").open`)
	b.setValue("f-filter", "orders.us")
	b.click("#form-ok")
	b.waitFor("the confirmation", `document.getElementById("confirm").open`)
	b.click("#confirm-ok")
	b.waitFor("the purge result", `document.getElementById("form-result").textContent === "Purged 15 messages."`)
	b.click("#form-cancel")
	info, err := str.Info(ctx)
	if err != nil || info.State.Msgs != 16 {
		t.Fatalf("after purging orders.us: %v, %d messages, want 16", err, info.State.Msgs)
	}

	// Close a connection from the connections page.
	b.run(`location.hash = "#/connections"`)
	b.waitFor("the victim's row", `Array.from(document.querySelectorAll("#conn-table tbody tr")).some((r) => r.cells[1].textContent === "misbehaving-client")`)
	// Only account A's connections: carol's, in B, is not listed.
	if got := b.text(`Array.from(document.querySelectorAll("#conn-table tbody tr"), (r) => r.cells[1].textContent).join(",")`); strings.Contains(got, "other-account") {
		t.Errorf("connections of another account shown: %s", got)
	}
	b.run(`Array.from(document.querySelectorAll("#conn-table tbody tr")).find((r) => r.cells[1].textContent === "misbehaving-client").querySelector("button").click()`)
	b.waitFor("the confirmation", `document.getElementById("confirm").open`)
	b.click("#confirm-ok")
	select {
	case <-gone:
	case <-time.After(20 * time.Second):
		t.Fatal("the connection was not closed")
	}
	for _, want := range []string{`msg="console: publish" user=alice`, `CONSUMER.DELETE.ORDERS.audit`, `STREAM.PURGE.ORDERS`, `msg="console: close connection" user=alice`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// A viewer sees the stream and its messages but no button that acts.
func TestConsoleViewerInBrowser(t *testing.T) {
	b := startBrowser(t)
	s, _ := startConsoleServer(t, consoleUsers)
	ctx := testCtx(t)
	_, js := jsFor(t, s, "bob", "bob-pw")
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "orders.x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(monURL(s, "/#/stream/A/ORDERS")))
	b.waitFor("the login form", `!document.getElementById("login").hidden`)
	b.setValue("login-user", "bob")
	b.setValue("login-password", "bob-pw")
	b.click("#login-submit")
	b.waitFor("bob's message", `(() => {
		const m = document.querySelectorAll("#msg-list .msg");
		return m.length === 1 && m[0].querySelector(".msg-data").textContent === "hello";
	})()`)
	if got := b.text(`document.getElementById("who-role").textContent`); got != "viewer" {
		t.Errorf("role shown: %q", got)
	}
	if got := b.text(`getComputedStyle(document.getElementById("sd-purge").parentElement).display + "," + getComputedStyle(document.querySelector("#msg-list .msg button")).display`); got != "none,none" {
		t.Errorf("acting buttons shown to a viewer: %s", got)
	}
}

// The forms make requests the stream layer takes: create and edit a
// stream, create, pause and resume a consumer, on an open console.
func TestConsoleFormsInBrowser(t *testing.T) {
	b := startBrowser(t)
	s, _ := startConsoleServer(t, nil)
	ctx := testCtx(t)
	nc := connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(monURL(s, "/#/streams")))
	b.waitFor("an operator without login", `document.body.classList.contains("can-act") && document.getElementById("login").hidden`)
	b.click("#stream-new")
	b.waitFor("the stream form", `document.getElementById("form-dialog").open`)
	b.setValue("f-name", "EVENTS")
	b.setValue("f-subjects", "events.>, audit.*")
	b.run(`document.getElementById("f-storage").value = "memory"`)
	b.setValue("f-max_age", "2h")
	b.click("#form-ok")
	b.waitFor("the new stream's page", `document.getElementById("sd-name").textContent === "EVENTS" && document.getElementById("sd-config").textContent.includes("events.>, audit.*")`)
	str, err := js.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := str.CachedInfo().Config; cfg.Storage != jetstream.MemoryStorage || cfg.MaxAge != 2*time.Hour || len(cfg.Subjects) != 2 || cfg.MaxMsgs != -1 {
		t.Fatalf("created config: %+v", cfg)
	}

	b.click("#sd-edit")
	b.waitFor("the edit form, filled in", `document.getElementById("form-dialog").open && document.getElementById("f-max_age").value === "2h"`)
	b.setValue("f-max_msgs", "100")
	b.click("#form-ok")
	b.waitFor("the new limit", `document.getElementById("sd-config").textContent.includes("100")`)
	info, err := str.Info(ctx)
	if err != nil || info.Config.MaxMsgs != 100 || info.Config.MaxAge != 2*time.Hour {
		t.Fatalf("edited config: %v %+v", err, info.Config)
	}

	b.click("#sd-consumer-new")
	b.waitFor("the consumer form", `document.getElementById("form-dialog").open`)
	b.setValue("f-durable_name", "worker")
	b.setValue("f-filter_subject", "events.>")
	b.setValue("f-ack_wait", "45s")
	b.click("#form-ok")
	b.waitFor("the consumer", `document.querySelector('#sd-consumers tr[data-consumer="worker"]') !== null`)
	c, err := str.Consumer(ctx, "worker")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := c.CachedInfo().Config; cfg.FilterSubject != "events.>" || cfg.AckWait != 45*time.Second || cfg.AckPolicy != jetstream.AckExplicitPolicy {
		t.Fatalf("consumer config: %+v", cfg)
	}
	b.click(`#sd-consumers tr[data-consumer="worker"] button`)
	b.waitFor("the pause form", `document.getElementById("form-dialog").open`)
	b.click("#form-ok")
	b.waitFor("paused", `document.querySelector('#sd-consumers tr[data-consumer="worker"]').cells[0].textContent === "worker (paused)"`)
	if ci, err := c.Info(ctx); err != nil || !ci.Paused {
		t.Fatalf("consumer not paused: %v %+v", err, ci)
	}
	b.click(`#sd-consumers tr[data-consumer="worker"] button`)
	b.waitFor("resumed", `document.querySelector('#sd-consumers tr[data-consumer="worker"]').cells[0].textContent === "worker"`)
	if ci, err := c.Info(ctx); err != nil || ci.Paused {
		t.Fatalf("consumer still paused: %v %+v", err, ci)
	}
}
