package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/consensus"
	"github.com/wisp-mq/wisp/replication"
	"github.com/wisp-mq/wisp/stream"
)

// Replicated streams of every account. The meta group knows a stream by
// one name; each account has a stream layer of its own, in which two
// accounts may each have a stream called ORDERS. So the name the meta
// group records is the stream's name for the global account (as before
// accounts could have replicated streams, so existing assignments keep
// their meaning) and "<account> <stream>" for another account: a stream
// name never holds a space, so the last space splits the two.

// replicaKey is the meta group's name for account's stream name.
func replicaKey(account, name string) string {
	if account == "" {
		return name
	}
	return account + " " + name
}

// splitReplicaKey is replicaKey's inverse.
func splitReplicaKey(key string) (account, name string) {
	if i := strings.LastIndexByte(key, ' '); i >= 0 {
		return key[:i], key[i+1:]
	}
	return "", key
}

// accountReplicas is replication's StreamLayer over every account's
// stream layer: a replica opens in the layer of its stream's account.
type accountReplicas struct{ l *streamLayers }

func (a accountReplicas) OpenReplica(key string, group uint64, config []byte, created time.Time) (consensus.StateMachine, error) {
	account, name := splitReplicaKey(key)
	svc := a.l.account(account)
	if svc == nil {
		return nil, fmt.Errorf("stream %q: account %q has no stream layer on this server", name, account)
	}
	return svc.OpenReplica(name, group, config, created)
}

func (a accountReplicas) CloseReplica(key string, group uint64) {
	account, name := splitReplicaKey(key)
	if svc := a.l.account(account); svc != nil {
		svc.CloseReplica(name, group)
	}
}

var _ replication.StreamLayer = accountReplicas{}

// account returns an account's stream layer ("" the global one), nil if
// it has none.
func (l *streamLayers) account(name string) *stream.Service {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.all {
		if a.account == name {
			return a.svc
		}
	}
	return nil
}

// The streamCluster methods that name a stream, in its account.

func (c streamCluster) PlaceStream(ctx context.Context, name string, replicas int, config []byte, created time.Time) error {
	return c.placeStream(ctx, replicaKey(c.account, name), replicas, config, created)
}

func (c streamCluster) RemoveStream(ctx context.Context, name string) error {
	return c.Node.RemoveStream(ctx, replicaKey(c.account, name))
}

func (c streamCluster) Assignment(name string) ([]string, bool) {
	return c.Node.Assignment(replicaKey(c.account, name))
}

func (c streamCluster) AssignedConfig(name string) json.RawMessage {
	return c.Node.AssignedConfig(replicaKey(c.account, name))
}

// Assigned lists the replicated streams of the cluster's account.
func (c streamCluster) Assigned() []string {
	var out []string
	for _, key := range c.Node.Assigned() {
		if account, name := splitReplicaKey(key); account == c.account {
			out = append(out, name)
		}
	}
	return out
}

func (c streamCluster) ReplacePeer(ctx context.Context, name string, group uint64, remove string) (string, error) {
	return c.replacePeer(ctx, replicaKey(c.account, name), group, remove)
}
