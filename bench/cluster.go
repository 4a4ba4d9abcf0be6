package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-mq/wisp/server"
)

// The cluster scenarios run against a 3-node cluster started for each run:
// in this process (the embedded target) or as three child processes of a
// binary, started with the flags that wisp and nats-server share:
//
//	-a 127.0.0.1 -p P -n nI -m M --cluster_name bench
//	--cluster nats://127.0.0.1:R --routes nats://127.0.0.1:R1,R2,R3
//
// The publisher is on node 1 and every delivery crosses a route, so they
// measure routed delivery. Before the clock starts, the publisher sends
// warm-up messages (sequence 0) until every subscriber has seen one: then
// the interest has reached node 1 and no timed message is published into a
// cluster that does not yet know where to send it.
const clusterNodes = 3

var clusterScenarios = []*Scenario{
	{Name: "cluster-pubsub", Unit: "msgs/s", Cluster: clusterNodes, Desc: "3-node cluster: publisher on node 1, 1 subscriber on node 2", run: runClusterPubSub},
	{Name: "cluster-fanout", Unit: "msgs/s", Cluster: clusterNodes, Desc: "3-node cluster: publisher on node 1, N subscribers on nodes 2 and 3; rate counts deliveries", run: runClusterFanout},
	{Name: "cluster-queue", Unit: "msgs/s", Cluster: clusterNodes, Desc: "3-node cluster: publisher on node 1, N queue-group members over all nodes; exactly once", run: runClusterQueue},
}

// ClusterScenarios lists the cluster scenarios, which the standard set
// leaves out (each run starts three servers).
func ClusterScenarios() []string {
	names := make([]string, len(clusterScenarios))
	for i, s := range clusterScenarios {
		names[i] = s.Name
	}
	return names
}

// connectNode connects to node i of the cluster under test.
func (e *Env) connectNode(name string, i int, conns *[]*nats.Conn) (*nats.Conn, error) {
	saved := e.URL
	e.URL = e.URLs[i%len(e.URLs)]
	defer func() { e.URL = saved }()
	return e.connect(name, conns)
}

// warmUp publishes sequence-0 messages on subject until ready reports that
// every subscriber has seen one.
func (e *Env) warmUp(pub *nats.Conn, subject string, ready func() bool) error {
	buf := make([]byte, 8)
	deadline := time.Now().Add(max(10*time.Second, e.grace()))
	for !ready() {
		if time.Now().After(deadline) {
			return errors.New("the cluster did not route warm-up messages to every subscriber in time")
		}
		if err := pub.Publish(subject, payload(buf, 0)); err != nil {
			return err
		}
		if err := pub.Flush(); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

func runClusterPubSub(ctx context.Context, e *Env) error { return clusterDeliver(ctx, e, 1) }

func runClusterFanout(ctx context.Context, e *Env) error {
	return clusterDeliver(ctx, e, e.Cfg.subs())
}

// clusterDeliver: one publisher on node 1, nsubs subscribers on the other
// nodes in turn; each must get every message once, in order.
func clusterDeliver(_ context.Context, e *Env, nsubs int) error {
	e.Res.Pubs, e.Res.Subs = 1, nsubs
	size := max(e.Cfg.Size, 8) // sequence numbers tell warm-up from timed messages
	if size != e.Cfg.Size {
		e.note("payload raised from %d to 8 bytes to carry sequence numbers", e.Cfg.Size)
	}
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	subject := e.Prefix + ".cluster"
	recv := make([]*receiver, nsubs)
	warmed := make([]atomic.Bool, nsubs)
	var last lastSeen
	for i := range recv {
		nc, err := e.connectNode(fmt.Sprintf("sub%d", i), 1+i%(len(e.URLs)-1), &conns)
		if err != nil {
			return err
		}
		r := &receiver{}
		recv[i] = r
		if err := subscribeReady(nc, subject, "", func(m *nats.Msg) {
			if seq, _ := getSeq(m.Data); seq == 0 {
				warmed[i].Store(true)
				return
			}
			r.handle(m, &last)
		}); err != nil {
			return err
		}
	}
	pub, err := e.connectNode("pub", 0, &conns)
	if err != nil {
		return err
	}
	if err := e.warmUp(pub, subject, allSet(warmed)); err != nil {
		return err
	}
	errs, err := e.deliverToAll(pub, size, subject, recv, &last)
	if err != nil {
		return err
	}
	return errors.Join(append(errs, e.clientErr())...)
}

// runClusterQueue: one publisher on node 1, --subs members of one queue
// group spread over all nodes; every message reaches exactly one member.
func runClusterQueue(_ context.Context, e *Env) error {
	n := max(e.Cfg.subs(), len(e.URLs))
	e.Res.Pubs, e.Res.Subs = 1, n
	size := max(e.Cfg.Size, 8)
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	subject := e.Prefix + ".cqueue"
	once := newExactlyOnce(e.Cfg.Msgs)
	perNode := make([]atomic.Int64, len(e.URLs))
	warmed := make([]atomic.Bool, n)
	var total atomic.Int64
	var last lastSeen
	for i := range n {
		node := i % len(e.URLs)
		nc, err := e.connectNode(fmt.Sprintf("member%d", i), node, &conns)
		if err != nil {
			return err
		}
		if err := subscribeReady(nc, subject, "workers", func(m *nats.Msg) {
			seq, _ := getSeq(m.Data)
			if seq == 0 {
				warmed[i].Store(true)
				return
			}
			once.add(seq)
			perNode[node].Add(1)
			total.Add(1)
			last.mark()
		}); err != nil {
			return err
		}
	}
	pub, err := e.connectNode("pub", 0, &conns)
	if err != nil {
		return err
	}
	if err := e.warmUp(pub, subject, allSet(warmed)); err != nil {
		return err
	}
	return e.sendToQueue(pub, size, subject, &total, &last, once, perNode, "node")
}

// startCluster brings up a cluster of n nodes for one run, each with the
// stream layer (-js -sd DIR) when jetstream is true.
func (t *Target) startCluster(n int, jetstream bool) (*instance, error) {
	switch {
	case t.url != "":
		return nil, fmt.Errorf("%w: cluster scenarios start their own cluster: give a server binary (or none, for the embedded one), not a URL", ErrUsage)
	case t.bin != "":
		return startClusterBinary(t.bin, n, t.clusterConfig(jetstream))
	case jetstream:
		// Replication is wired by cmd/wisp, which bench does not import:
		// wisp bench runs these scenarios against its own binary.
		return nil, fmt.Errorf("%w: the replicated-stream scenarios start a cluster of server processes: give a server binary", ErrUsage)
	}
	return startClusterEmbedded(n)
}

// clusterConfig is what a cluster node is started with besides the
// cluster flags: the stream layer, and the config file lines of this
// target's sync rule (Wisp's --sync, or a compared nats-server's
// --compare-sync).
func (t *Target) clusterConfig(jetstream bool) clusterOpts {
	o := clusterOpts{jetstream: jetstream}
	if jetstream {
		if t.sync != "" {
			o.lines = append(o.lines, syncLine(t.sync))
		}
		if t.otherSync != "" {
			o.lines = append(o.lines, otherSyncLine(t.otherSync))
		}
	}
	return o
}

// clusterOpts say what each node of a started cluster needs.
type clusterOpts struct {
	jetstream bool     // -js -sd DIR, a directory per node
	lines     []string // a config file (-c FILE), the same for every node
}

// startClusterEmbedded starts n Wisp servers in this process.
func startClusterEmbedded(n int) (*instance, error) {
	var servers []*server.Server
	stop := func() {
		for _, s := range servers {
			shutdownServer(s)
		}
	}
	var seed string
	for i := range n {
		o := &server.Options{Host: "127.0.0.1", Port: -1, ServerName: fmt.Sprintf("n%d", i+1),
			Cluster: server.ClusterOptions{Name: "bench", Host: "127.0.0.1", Port: -1}}
		if seed != "" {
			o.Cluster.Routes = []string{seed}
		}
		s, err := server.New(o, slog.New(slog.DiscardHandler))
		if err == nil {
			err = s.Start()
		}
		if err != nil {
			stop()
			return nil, err
		}
		servers = append(servers, s)
		if i == 0 {
			seed = "nats://" + s.ClusterAddr().String()
		}
	}
	meshed := func() bool {
		for _, s := range servers {
			if s.NumRoutes() != n-1 {
				return false
			}
		}
		return true
	}
	if !waitFor(time.Now().Add(startTimeout), meshed) {
		stop()
		return nil, errors.New("the embedded cluster did not form a full mesh")
	}
	in := &instance{stop: stop, self: true}
	for _, s := range servers {
		in.urls = append(in.urls, s.ClientURL())
	}
	in.url = in.urls[0]
	info, err := probe(in.url, 5*time.Second)
	if err != nil {
		stop()
		return nil, err
	}
	in.version = info.serverVersion()
	return in, nil
}

// startClusterBinary starts n processes of bin as one cluster and waits
// until each reports n-1 routes on /routez (which wisp and nats-server
// both serve).
func startClusterBinary(bin string, n int, opts clusterOpts) (*instance, error) {
	var err error
	for range startTries {
		var in *instance
		var retry bool
		in, retry, err = startClusterBinaryOnce(bin, n, opts)
		if err == nil || !retry {
			return in, err
		}
	}
	return nil, err
}

// startClusterBinaryOnce starts the cluster's processes; retry says that
// a port was taken between freePort and the bind, so trying again with
// other ports may work.
func startClusterBinaryOnce(bin string, n int, opts clusterOpts) (_ *instance, retry bool, _ error) {
	type node struct{ client, route, mon int }
	nodes := make([]node, n)
	dir := ""
	if opts.jetstream || len(opts.lines) > 0 {
		var err error
		if dir, err = os.MkdirTemp("", "wisp-bench-cluster-"); err != nil {
			return nil, false, err
		}
	}
	removeDir := func() {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	config := ""
	if len(opts.lines) > 0 {
		var err error
		if config, err = writeConfig(dir, opts.lines); err != nil {
			removeDir()
			return nil, false, err
		}
	}
	var routes []string
	for i := range nodes {
		for _, p := range []*int{&nodes[i].client, &nodes[i].route, &nodes[i].mon} {
			port, err := freePort()
			if err != nil {
				removeDir()
				return nil, false, err
			}
			*p = port
		}
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(nodes[i].route))
	}
	var cmds []*exec.Cmd
	var outs []*tail
	stop := func() {
		for _, c := range cmds {
			c.Process.Signal(os.Interrupt)
		}
		for _, c := range cmds {
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(stopTimeout):
				c.Process.Kill()
				<-done
			}
		}
		removeDir()
	}
	in := &instance{stop: stop}
	for i, nd := range nodes {
		args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(nd.client), "-n", fmt.Sprintf("n%d", i+1),
			"-m", strconv.Itoa(nd.mon), "--cluster_name", "bench",
			"--cluster", "nats://127.0.0.1:" + strconv.Itoa(nd.route), "--routes", strings.Join(routes, ",")}
		if opts.jetstream {
			args = append(args, "-js", "-sd", filepath.Join(dir, fmt.Sprintf("n%d", i+1)))
		}
		if config != "" {
			args = append(args, "-c", config)
		}
		out := &tail{max: 8 << 10}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			stop()
			return nil, false, fmt.Errorf("starting %s: %w", bin, err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
		in.pids = append(in.pids, cmd.Process.Pid)
		in.urls = append(in.urls, "nats://127.0.0.1:"+strconv.Itoa(nd.client))
	}
	meshed := func() bool {
		for _, nd := range nodes {
			if numRoutes(nd.mon) != n-1 {
				return false
			}
		}
		return true
	}
	if !waitFor(time.Now().Add(startTimeout), meshed) {
		stop()
		out := outs[0].String()
		for _, o := range outs {
			if s := o.String(); strings.Contains(s, "already in use") {
				out, retry = s, true
			}
		}
		return nil, retry, fmt.Errorf("%s: the %d nodes did not form a full mesh within %v: %s", bin, n, startTimeout, lastLines(out, 5))
	}
	info, err := probe(in.urls[0], 5*time.Second)
	if err != nil {
		stop()
		return nil, false, err
	}
	in.url, in.version, in.pid = in.urls[0], info.serverVersion(), in.pids[0]
	return in, false, nil
}

// numRoutes reads from a monitoring port's /routez how many servers the
// node has routes to (nats-server may pool several connections per server);
// -1 when it does not answer.
func numRoutes(port int) int {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/routez")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var rz struct {
		Routes []struct {
			RemoteID string `json:"remote_id"`
		} `json:"routes"`
	}
	if json.NewDecoder(resp.Body).Decode(&rz) != nil {
		return -1
	}
	peers := map[string]bool{}
	for _, r := range rz.Routes {
		peers[r.RemoteID] = true
	}
	return len(peers)
}
