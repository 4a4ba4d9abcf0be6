package main

import (
	"context"
	"encoding/json"
	"errors"
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
		return nil, &replication.AccountMissingError{Account: account, Stream: name}
	}
	return svc.OpenReplica(name, group, config, created)
}

func (a accountReplicas) CloseReplica(key string, group uint64) {
	account, name := splitReplicaKey(key)
	if svc := a.l.account(account); svc != nil {
		svc.CloseReplica(name, group)
	}
}

// LocalStreams lists every account's streams without a raft group,
// under their meta group names.
func (a accountReplicas) LocalStreams() []replication.LocalStream {
	a.l.mu.Lock()
	all := append([]accountStreams(nil), a.l.all...)
	a.l.mu.Unlock()
	var out []replication.LocalStream
	for _, as := range all {
		for _, ls := range as.svc.LocalStreams() {
			out = append(out, replication.LocalStream{Name: replicaKey(as.account, ls.Name), Config: ls.Config, Created: ls.Created})
		}
	}
	return out
}

// HeldReplicas names every account's replicas of replicated streams,
// under their meta group names, with their groups.
func (a accountReplicas) HeldReplicas() map[string]uint64 {
	a.l.mu.Lock()
	all := append([]accountStreams(nil), a.l.all...)
	a.l.mu.Unlock()
	out := map[string]uint64{}
	for _, as := range all {
		for name, group := range as.svc.HeldReplicas() {
			out[replicaKey(as.account, name)] = group
		}
	}
	return out
}

func (a accountReplicas) OpenLocal(key string, config []byte, created time.Time) error {
	account, name := splitReplicaKey(key)
	svc := a.l.account(account)
	if svc == nil {
		return fmt.Errorf("stream %q: account %q has no stream layer on this server", name, account)
	}
	return svc.OpenLocal(name, config, created)
}

func (a accountReplicas) DropLocal(key string) {
	account, name := splitReplicaKey(key)
	if svc := a.l.account(account); svc != nil {
		svc.DropLocal(name)
	}
}

var (
	_ replication.StreamLayer   = accountReplicas{}
	_ replication.LocalLayer    = accountReplicas{}
	_ replication.ConfigSettler = accountReplicas{}
)

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

// accountNames names the accounts with a stream layer here ("" the
// global account): the meta hellos announce them, so that placement
// puts a stream only where its account is.
func (l *streamLayers) accountNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.all))
	for _, a := range l.all {
		out = append(out, a.account)
	}
	return out
}

// MetaLeaderHasAccount reports whether the meta leader has the cluster's
// account (or none is known): creates and deletes are sent on to it
// then, and placed from here otherwise.
func (c streamCluster) MetaLeaderHasAccount() bool {
	l := c.Node.MetaLeader()
	return l == "" || c.Node.HasAccount(l, c.account)
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

// Assigned lists the streams the meta group assigned in the cluster's
// account.
func (c streamCluster) Assigned() []string {
	var out []string
	for _, key := range c.Node.Assigned() {
		if account, name := splitReplicaKey(key); account == c.account {
			out = append(out, name)
		}
	}
	return out
}

func (c streamCluster) PlaceLocal(ctx context.Context, name string, config []byte, created time.Time) error {
	return streamErr(c.Node.PlaceLocal(ctx, replicaKey(c.account, name), config, created))
}

func (c streamCluster) UnplaceLocal(ctx context.Context, name string) error {
	return c.Node.UnplaceLocal(ctx, replicaKey(c.account, name))
}

func (c streamCluster) LocalAssignment(name string) (string, bool) {
	return c.Node.LocalAssignment(replicaKey(c.account, name))
}

func (c streamCluster) RecordConfig(ctx context.Context, name string, config []byte) error {
	return c.Node.RecordConfig(ctx, replicaKey(c.account, name), config)
}

func (c streamCluster) CheckConfig(ctx context.Context, name string, config []byte, reserve []string) (string, error) {
	token, err := c.Node.CheckConfig(ctx, replicaKey(c.account, name), config, reserve)
	return token, streamErr(err)
}

func (c streamCluster) AbandonConfig(name, token string) {
	c.Node.AbandonConfig(replicaKey(c.account, name), token)
}

// SettledConfig settles a stream's log and returns its config
// (replication's ConfigSettler), in the layer of the stream's account.
func (a accountReplicas) SettledConfig(key string) ([]byte, error) {
	account, name := splitReplicaKey(key)
	svc := a.l.account(account)
	if svc == nil {
		return nil, &replication.AccountMissingError{Account: account, Stream: name}
	}
	return svc.SettledConfig(name)
}

// streamErr converts replication's placement refusals to the stream
// layer's.
func streamErr(err error) error {
	switch {
	case errors.Is(err, replication.ErrNameInUse):
		return stream.ErrNameInUse
	case errors.Is(err, replication.ErrSubjectsOverlap):
		return stream.ErrSubjectsOverlap
	case errors.Is(err, replication.ErrNoMetaGroup):
		return stream.ErrNoMetaGroup
	}
	return err
}

func (c streamCluster) ReplacePeer(ctx context.Context, name string, group uint64, remove string) (string, error) {
	return c.replacePeer(ctx, replicaKey(c.account, name), group, remove)
}

// ScaleStream changes a replicated stream's replica count, with the
// stream layer's refusal for too few servers.
func (c streamCluster) ScaleStream(ctx context.Context, name string, group uint64, replicas int) error {
	err := c.Node.ScaleStream(ctx, replicaKey(c.account, name), group, replicas)
	switch {
	case errors.Is(err, replication.ErrNoPeers):
		return stream.ErrNoPeers
	case errors.Is(err, replication.ErrLeaderChanged):
		return stream.ErrLeaderMoved
	}
	return err
}
