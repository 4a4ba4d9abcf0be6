package stream

import (
	"slices"
	"testing"
)

// A follower answering stream info names its leader as the leader, and
// itself, not the leader, among the replicas.
func TestReplicasBesideLeaderOnAFollower(t *testing.T) {
	gi := GroupInfo{Leader: "n1", SelfPeer: "33", Replicas: []PeerInfo{
		{Name: "n1", Peer: "11", Current: true, Active: 5},
		{Name: "n2", Peer: "22", Current: false, Active: 7, Lag: 3},
	}}
	got := replicasBesideLeader(gi, "n3")
	names := []string{}
	for _, p := range got {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"n2", "n3"}) {
		t.Fatalf("replicas %v, want [n2 n3]", names)
	}
	if !got[1].Current || got[1].Active != 5 || got[1].Peer != "33" {
		t.Fatalf("this server's entry %+v: want it as current as its leader's last word, with its own raft id", got[1])
	}
	lead := GroupInfo{Leader: "n1", IsLeader: true, Replicas: gi.Replicas[1:]}
	if r := replicasBesideLeader(lead, "n1"); len(r) != 1 || r[0].Name != "n2" {
		t.Fatalf("on the leader: %+v", r)
	}
	none := GroupInfo{Replicas: gi.Replicas}
	if r := replicasBesideLeader(none, "n3"); len(r) != 2 {
		t.Fatalf("no leader known: %+v", r)
	}
}
