package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/server"
)

// A replicated stream's cluster section, in stream and consumer info and
// in /jsz's stream_detail, names each replica's raft id and says its
// replication is the system account's traffic (it travels on
// the routes, in no client account), with the system account's name; the
// config's metadata names the version INFO advertises.
func TestClusterInfoTrafficAccount(t *testing.T) {
	nodes := startStreamCluster(t, "ta", 3)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TA", Subjects: []string{"ta"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "TA", jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	type reply struct {
		Config struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"config"`
		Cluster *struct {
			Leader     string `json:"leader"`
			SystemAcc  bool   `json:"system_account"`
			TrafficAcc string `json:"traffic_account"`
			Replicas   []struct {
				Name string `json:"name"`
				Peer string `json:"peer"`
			} `json:"replicas"`
		} `json:"cluster"`
	}
	for _, subject := range []string{"$JS.API.STREAM.INFO.TA", "$JS.API.CONSUMER.INFO.TA.C"} {
		var r reply
		waitLong(t, subject+" with a leader", func() bool {
			m, err := nc.Request(subject, nil, 5*time.Second)
			if err != nil || json.Unmarshal(m.Data, &r) != nil {
				return false
			}
			return r.Cluster != nil && r.Cluster.Leader != "" && len(r.Cluster.Replicas) == 2
		})
		// Each replica with its raft id, as /jsz's meta_cluster names it.
		for _, p := range r.Cluster.Replicas {
			if p.Peer == "" || p.Peer != raftPeer(p.Name) {
				t.Fatalf("%s: replica %+v, want peer %s", subject, p, raftPeer(p.Name))
			}
		}
		if !r.Cluster.SystemAcc || r.Cluster.TrafficAcc != server.DefaultSystemAccount {
			t.Fatalf("%s: cluster %+v, want system_account true, traffic_account %q", subject, *r.Cluster, server.DefaultSystemAccount)
		}
		if r.Config.Metadata["_nats.ver"] != server.NATSVersion {
			t.Fatalf("%s: metadata %v, want _nats.ver %s", subject, r.Config.Metadata, server.NATSVersion)
		}
	}
	// A stream with one replica, on the server asked, is led by it.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TA1", Subjects: []string{"ta1"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + nodes[0].srv.MonitorAddr().String() + "/jsz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	type cluster struct {
		Name       string `json:"name"`
		Leader     string `json:"leader"`
		SystemAcc  bool   `json:"system_account"`
		TrafficAcc string `json:"traffic_account"`
	}
	type replica struct {
		Name string `json:"name"`
		Peer string `json:"peer"`
	}
	var jz struct {
		Streams []struct {
			Name    string `json:"name"`
			Cluster *struct {
				cluster
				Replicas []replica `json:"replicas"`
			} `json:"cluster"`
		} `json:"stream_detail"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jz); err != nil || len(jz.Streams) != 2 {
		t.Fatalf("/jsz: %+v (%v)", jz, err)
	}
	for _, sd := range jz.Streams {
		if sd.Cluster == nil {
			t.Fatalf("/jsz stream_detail %s: no cluster section", sd.Name)
		}
		want := cluster{Name: nodes[0].cluster, Leader: nodes[0].name}
		if sd.Name == "TA" {
			want = cluster{Name: nodes[0].cluster, Leader: sd.Cluster.Leader, SystemAcc: true, TrafficAcc: server.DefaultSystemAccount}
		}
		if sd.Cluster.cluster != want {
			t.Fatalf("/jsz stream_detail %s: cluster %+v, want %+v", sd.Name, sd.Cluster, want)
		}
		for _, p := range sd.Cluster.Replicas {
			if p.Peer != raftPeer(p.Name) {
				t.Fatalf("/jsz stream_detail %s: replica %+v, want peer %s", sd.Name, p, raftPeer(p.Name))
			}
		}
	}
}
