package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// In a cluster, a WebSocket client's INFO lists every server's WebSocket
// address in connect_urls (nats-server's ws_connect_urls, gossiped over
// the routes), never the TCP client URLs; nats.go dials them as ws:// and
// fails over to one when its server goes.
func TestWebsocketClusterConnectURLs(t *testing.T) {
	servers := startTestCluster(t, 3, func(i int, o *Options) {
		o.Websocket = WebsocketOptions{Host: "127.0.0.1", Port: -1, NoTLS: true}
		if i == 2 {
			// An address that refuses at once, so that a failover that
			// tries it first moves on without waiting.
			o.Websocket.Advertise = "127.0.0.1:1"
		}
	})
	hostPort := func(u string) string { return strings.TrimPrefix(u, "ws://") }
	want := []string{hostPort(servers[1].WebsocketURL()), "127.0.0.1:1"}
	reconnected := make(chan struct{}, 1)
	nc := wsConnect(t, servers[0], nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	eventually(t, "the other servers' WebSocket URLs discovered", func() bool {
		d := nc.DiscoveredServers()
		return len(d) == 2 && slices.Contains(d, "ws://"+want[0]) && slices.Contains(d, "ws://"+want[1])
	})
	// A TCP client still gets the TCP client URLs.
	tcpURLs := clientInfo(t, servers[0]).ConnectURLs
	if slices.Contains(tcpURLs, want[0]) || !slices.Contains(tcpURLs, strings.TrimPrefix(servers[1].ClientURL(), "nats://")) {
		t.Fatalf("TCP connect_urls %v", tcpURLs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	servers[0].Shutdown(ctx)
	select {
	case <-reconnected:
	case <-time.After(60 * time.Second):
		t.Fatalf("ws client did not fail over: status %v, last error %v, servers %v",
			nc.Status(), nc.LastError(), nc.Servers())
	}
	if u := nc.ConnectedUrl(); u != servers[1].WebsocketURL() {
		t.Fatalf("failed over to %s, want %s", u, servers[1].WebsocketURL())
	}
}
