package server

// The console's Cluster page in a real browser, against a three-server
// cluster carrying traffic over its routes.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
)

func TestConsoleClusterInBrowser(t *testing.T) {
	b := startBrowser(t)
	servers := startTestCluster(t, 3, func(i int, o *Options) {
		o.HTTPPort = -1
		o.Cluster.Name = "orders-eu"
	})
	// Subscribers on n2 and n3, publishers on n1 and n3: n1's routes carry
	// messages both ways, at a steady rate the page can measure.
	for i, s := range servers[1:] {
		nc := connectTo(t, s)
		if _, err := nc.Subscribe(fmt.Sprintf("orders.%d.>", i), func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
	}
	back := connectTo(t, servers[0])
	if _, err := back.Subscribe("billing.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	back.Flush()
	waitInterest(t, servers[0], "orders.0.new", 1)
	waitInterest(t, servers[0], "orders.1.new", 1)
	waitInterest(t, servers[2], "billing.x", 1)
	pub1, pub3 := connectTo(t, servers[0]), connectTo(t, servers[2])
	payload := make([]byte, 128)
	defer steadyTraffic(func(n int) {
		pub1.Publish(fmt.Sprintf("orders.%d.new", n%2), payload)
		if n%3 == 0 {
			pub3.Publish("billing.charge", payload)
		}
	})()

	b.do(
		chromedp.Navigate(monURL(servers[0], "/#/cluster")),
		chromedp.WaitVisible("#cluster-table"),
	)
	b.waitFor("two routes listed", `document.querySelectorAll("#cluster-table tbody tr").length === 2`)
	shown, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#cluster-table tbody tr td:first-child"), td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shown, []string{"n2", "n3"}) {
		t.Errorf("servers shown %q, want n2 and n3", shown)
	}
	if got := b.text(`document.getElementById("cluster-name").textContent`); got != "orders-eu" {
		t.Errorf("cluster name shown: %q", got)
	}
	// Rates need two polls; then every route shows messages going out (to
	// the subscribers on n2 and n3) and n3's route messages coming in.
	b.waitFor("non-zero rates and counts", `(() => {
		const rows = Array.from(document.querySelectorAll("#cluster-table tbody tr"));
		const positive = (td) => /^[1-9]/.test(td.textContent);
		return rows.length === 2 &&
			rows.every((r) => positive(r.cells[7]) && positive(r.cells[9])) &&
			positive(rows[1].cells[6]) && positive(rows[1].cells[8]);
	})()`)
	b.waitFor("the server count", `document.getElementById("cluster-totals").textContent.includes("3")`)
	// Which side dialled is "this server" or the other server's name
	// (n2 and n3 dial n1, their seed, but gossip may have n1 dial n3 too,
	// and either route of such a pair may be the one kept).
	b.waitFor("who dialled each route", `Array.from(document.querySelectorAll("#cluster-table tbody tr"),
		(r) => r.cells[3].textContent === "this server" || r.cells[3].textContent === r.cells[0].textContent).every(Boolean)`)
	// The cards and the table are apart, not touching.
	b.waitFor("space between the cards and the table", `(() => {
		const cards = document.getElementById("cluster-totals").getBoundingClientRect();
		const table = document.querySelector("#cluster-on .panel").getBoundingClientRect();
		return table.top - cards.bottom >= 8;
	})()`)
	b.shoot("console-cluster.png")
}
