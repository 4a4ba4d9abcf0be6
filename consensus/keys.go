package consensus

import "encoding/binary"

// Key layout. Every key of this package starts with keyPrefix, so the log
// can share a Pebble database with other data, then the group id (8 bytes,
// big-endian, so one group's keys are contiguous), then a kind byte; entry
// keys end with the entry index (8 bytes, big-endian, so entries sort in
// log order).
//
//	keyPrefix | group | 'e' | index   one log entry
//	keyPrefix | group | 'h'           hard state and last entry (stateRecord)
//	keyPrefix | group | 't'           last compacted entry (truncRecord)
//	keyPrefix | group | 's'           latest snapshot (raftpb.Snapshot)
//	keyPrefix | group | 'c'           configuration (raftpb.ConfState)
//	keyPrefix | group | 'i'           index of the last configuration change in 'c'
//	keyPrefix | group | 'r'           present while the replica recovers lost state
//	keyPrefix | group | 'a'           the latest streamed state installed: its snapshot's index and its own
const keyPrefix = "\x00wisp-raft/"

const (
	kindEntry      = 'e'
	kindState      = 'h'
	kindTrunc      = 't'
	kindSnapshot   = 's'
	kindConf       = 'c'
	kindConfIndex  = 'i'
	kindRecovering = 'r'
	kindStreamed   = 'a'
)

const groupKeyLen = len(keyPrefix) + 8

func groupPrefix(group uint64) []byte {
	k := make([]byte, groupKeyLen, groupKeyLen+1+8)
	copy(k, keyPrefix)
	binary.BigEndian.PutUint64(k[len(keyPrefix):], group)
	return k
}

func kindKey(group uint64, kind byte) []byte {
	return append(groupPrefix(group), kind)
}

func entryKey(group, index uint64) []byte {
	k := append(groupPrefix(group), kindEntry)
	return binary.BigEndian.AppendUint64(k, index)
}

// groupEnd is the first key after every key of group.
func groupEnd(group uint64) []byte {
	if group == ^uint64(0) {
		return append([]byte(keyPrefix[:len(keyPrefix)-1]), keyPrefix[len(keyPrefix)-1]+1)
	}
	return groupPrefix(group + 1)
}

// keyIndex returns the index an entry key names.
func keyIndex(key []byte) (uint64, bool) {
	if len(key) != groupKeyLen+1+8 || key[groupKeyLen] != kindEntry || string(key[:len(keyPrefix)]) != keyPrefix {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[groupKeyLen+1:]), true
}
