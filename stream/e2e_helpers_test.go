package stream_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
)

// node is a real server on 127.0.0.1 with the stream layer on top and a
// nats.go client connected to it.
type node struct {
	t   testing.TB
	dir string
	srv *server.Server
	svc *stream.Service
	nc  *nats.Conn
	js  jetstream.JetStream
}

// startNode starts a server and stream layer storing under dir.
func startNode(t testing.TB, dir string) *node {
	t.Helper()
	return startNodeWith(t, stream.Options{StoreDir: dir})
}

// startNodeWith starts a node with explicit stream layer options.
func startNodeWith(t testing.TB, opts stream.Options) *node {
	t.Helper()
	dir := opts.StoreDir
	srv, err := server.New(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if opts.OpenStore == nil {
		opts.OpenStore = stream.PebbleStores(opts)
	}
	svc, err := stream.New(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4000))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, dir: dir, srv: srv, svc: svc, nc: nc, js: js}
	t.Cleanup(n.stop)
	return n
}

// stop shuts everything down in the order cmd/wisp does; safe to repeat.
func (n *node) stop() {
	if n.srv == nil {
		return
	}
	n.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
	if err := n.svc.Close(); err != nil {
		n.t.Errorf("close stream layer: %v", err)
	}
	n.srv = nil
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// apiErrCode returns the err_code of a jetstream API error, 0 otherwise.
func apiErrCode(err error) jetstream.ErrorCode {
	var je jetstream.JetStreamError
	if err != nil && asJSErr(err, &je) && je.APIError() != nil {
		return je.APIError().ErrorCode
	}
	return 0
}

var jsonUnmarshal = json.Unmarshal
