package replication

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble"
	"github.com/wisp-mq/wisp/consensus"
)

// The meta group's members by name are kept next to the raft log (under a
// prefix of replication's own; the consensus package's keys start with
// "\x00wisp-raft/"), written before the group is added. Raft knows the
// voters only by id, a hash of the name; with the names on disk a server
// restarted from its store can tell a member that lost its disk who the
// members are, and monitoring names them, before every member is back.
var membersKey = []byte("\x00wisp-replication/meta-members")

func saveMembers(store *consensus.Store, members []string) error {
	b, err := json.Marshal(members)
	if err != nil {
		return err
	}
	// Through the store, so that a failed write fails the raft log (and is
	// recovered from) like the host's own.
	if err := store.Write(func(db *pebble.DB) error { return db.Set(membersKey, b, pebble.Sync) }); err != nil {
		return fmt.Errorf("replication: save meta members: %w", err)
	}
	return nil
}

// loadMembers returns the saved members, nil when none were saved (or the
// record does not decode: the names are then learned from the peers).
func loadMembers(db *pebble.DB) []string {
	v, closer, err := db.Get(membersKey)
	if err != nil {
		return nil
	}
	defer closer.Close()
	var members []string
	if json.Unmarshal(v, &members) != nil || len(members) == 0 || len(members) > 1024 {
		return nil
	}
	slices.Sort(members)
	return members
}
