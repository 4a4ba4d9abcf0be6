package replication

import (
	"context"
	"errors"
	"slices"
)

// Accounts configured on some servers only. A stream belongs to its
// account, and a server without that account in its configuration has
// no stream layer for it: a replica placed there cannot run. So every
// server says in its meta hellos which accounts it has streams in
// (Options.Accounts), and placement (placePeers, pickReplacement) only
// chooses servers that have the stream's account. A server that says
// nothing (an earlier version, whose hellos lack the field) or that was
// not heard from yet is taken to have every account, as placement took
// every server before.
//
// The meta group itself needs no account: it records names, configs and
// peers. So a server asked to create or delete a stream in an account
// the meta leader lacks proposes the change itself (PlaceStream and
// RemoveStream work on any member), instead of sending the request on to
// a leader that could not take it.

// maxHelloAccounts bounds the accounts one hello may name; a hello naming
// more is taken to name every account.
const maxHelloAccounts = 1 << 16

// ErrNoPeersAccount is PlaceStream's error when the meta group has enough
// members, but too few of them have the stream's account.
var ErrNoPeersAccount = errors.New("replication: no suitable peers for placement: too few servers have the stream's account")

// ownAccounts is what this server's hellos say of its accounts (nil:
// nothing, taken as every account). A server with streams always has
// the global account's, so a list said is never empty.
func (n *Node) ownAccounts() []string {
	if n.accounts == nil {
		return nil
	}
	return n.accounts()
}

// HasAccount reports whether server has streams in account, as far as
// this server knows: its own configuration for itself, the server's
// latest hello for another (true when that hello does not say, or none
// was heard).
func (n *Node) HasAccount(server, account string) bool {
	if server == n.name {
		return n.accounts == nil || slices.Contains(n.accounts(), account)
	}
	n.meta.mu.Lock()
	h, ok := n.meta.hellos[server]
	n.meta.mu.Unlock()
	return !ok || h.Accounts == nil || slices.Contains(h.Accounts, account)
}

// placePeers chooses the servers of a new replicated stream: replicas of
// the meta group's members that have the stream's account, those
// carrying fewer streams first, ties by name.
func (n *Node) placePeers(ctx context.Context, name string, replicas int) ([]string, error) {
	members := n.meta.memberNames(ctx)
	if replicas > len(members) {
		return nil, ErrNoPeers
	}
	account := keyAccount(name)
	members = slices.DeleteFunc(members, func(m string) bool { return !n.HasAccount(m, account) })
	if replicas > len(members) {
		return nil, ErrNoPeersAccount
	}
	load := map[string]int{}
	for _, a := range n.meta.sm.streamAssignments() {
		for _, p := range a.Peers {
			load[p]++
		}
	}
	slices.SortFunc(members, func(a, b string) int {
		if load[a] != load[b] {
			return load[a] - load[b]
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	peers := slices.Clone(members[:replicas])
	slices.Sort(peers)
	return peers, nil
}
