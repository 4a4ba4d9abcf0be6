package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Host. DefaultConfig fills the tuning fields;
// Validate names any bad value.
type Config struct {
	// ID is this host's raft id in every group it hosts: nonzero, and
	// never reused by another node (raft's rule for node ids).
	ID        uint64
	Store     *Store
	Transport Transport
	Logger    *slog.Logger

	// TickInterval is the period of raft's logical clock.
	TickInterval time.Duration
	// ElectionTicks and HeartbeatTicks are raft's election timeout and
	// heartbeat period, in ticks.
	ElectionTicks, HeartbeatTicks int
	// SnapshotEntries is how many applied entries a group accumulates
	// before the host takes a state machine snapshot and compacts its log;
	// KeepEntries is how many entries behind the snapshot stay, for
	// followers that are a little behind.
	SnapshotEntries, KeepEntries uint64
	// MaxSizePerMsg and MaxInflightMsgs bound raft's append messages.
	MaxSizePerMsg   uint64
	MaxInflightMsgs int
	// InboxLimit bounds queued inbound batches; beyond it new batches are
	// dropped, as a congested network would (raft retransmits).
	InboxLimit int
	// InboxBytes bounds the bytes of raft entries and snapshots queued
	// inbound (on top of InboxLimit), so that what peers send cannot grow
	// a slow host's memory without bound; 0 means 64 MiB.
	InboxBytes int
	// RequestLimit bounds the callers' requests (proposals, reads, calls)
	// waiting for the loop; past it they fail at once with ErrQueueFull.
	// 0 means 16384.
	RequestLimit int
	// StorageRetry is how often a host whose raft log failed (a full disk,
	// an I/O error) tries to reopen it (host_faults.go); 0 means 1s.
	StorageRetry time.Duration
	// OnLeaderChange, if set, is called from the host's loop when a
	// group's leader or term changes; it must not block.
	OnLeaderChange func(LeaderChange)
}

// LeaderChange reports a group's new leader (0: none known) and term.
type LeaderChange struct {
	Group, Leader, Term uint64
}

// DefaultConfig returns a Config with the tuning fields set: a 100ms tick,
// a one-second election timeout, a heartbeat every tick.
func DefaultConfig() Config {
	return Config{
		TickInterval:    100 * time.Millisecond,
		ElectionTicks:   10,
		HeartbeatTicks:  1,
		SnapshotEntries: 4096,
		KeepEntries:     1024,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		InboxLimit:      4096,
		RequestLimit:    16384,
	}
}

// Validate rejects a Config the host cannot run with.
func (c *Config) Validate() error {
	switch {
	case c.ID == 0:
		return errors.New("consensus: host id must be nonzero")
	case c.Store == nil:
		return errors.New("consensus: no store")
	case c.Transport == nil:
		return errors.New("consensus: no transport")
	case c.TickInterval <= 0:
		return fmt.Errorf("consensus: tick interval %v must be positive", c.TickInterval)
	case c.HeartbeatTicks <= 0 || c.ElectionTicks <= c.HeartbeatTicks:
		return fmt.Errorf("consensus: election ticks (%d) must exceed heartbeat ticks (%d) > 0", c.ElectionTicks, c.HeartbeatTicks)
	case c.SnapshotEntries == 0:
		return errors.New("consensus: snapshot entries must be positive")
	case c.MaxInflightMsgs <= 0 || c.InboxLimit <= 0:
		return errors.New("consensus: max inflight messages and inbox limit must be positive")
	case c.StorageRetry < 0:
		return fmt.Errorf("consensus: storage retry %v must not be negative", c.StorageRetry)
	case c.RequestLimit < 0:
		return fmt.Errorf("consensus: request limit %d must not be negative", c.RequestLimit)
	}
	return nil
}
