package stream

import (
	"fmt"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// DamagePolicy says what the stream layer does with a stream whose store
// holds less than its manifest says was acknowledged ([jetstream]
// on_damage). Either way the loss is logged at error level, with the
// stream, the missing range and the store directory, and counted
// (Stats.LostMessages, Stats.DamagedStreams); it is never hidden.
type DamagePolicy int

const (
	// ServeDamaged serves what survived and records the loss: sequences
	// continue after the highest ever acknowledged (the lost range shows
	// as deleted), consumers the store lost are re-created from their
	// manifest definitions (their position restarts from the deliver
	// policy, so messages may be delivered again), and de-duplication
	// refuses message ids it can no longer check.
	ServeDamaged DamagePolicy = iota
	// RefuseDamaged keeps a damaged stream offline: every API request
	// naming it fails with "stream is offline" and the reason, and its
	// subjects are not stored, until the operator restarts with
	// on_damage = "serve" (accepting the loss) or restores the files.
	RefuseDamaged
)

// ParseDamagePolicy reads the config value ("serve" or "refuse").
func ParseDamagePolicy(s string) (DamagePolicy, error) {
	switch s {
	case "", "serve":
		return ServeDamaged, nil
	case "refuse":
		return RefuseDamaged, nil
	}
	return 0, fmt.Errorf("on_damage: %q is not \"serve\" or \"refuse\"", s)
}

// handleDamage acts on what the file store found against its manifest,
// before any stream is loaded. It returns the streams to keep offline,
// with the reason.
func (svc *Service) handleDamage(st Store, policy DamagePolicy) map[string]string {
	rep := st.OpenReport()
	svc.storeProblems.Add(uint64(len(rep.Problems)))
	offline := map[string]string{}
	for i := range rep.Damage {
		d := &rep.Damage[i]
		reason := describeDamage(d)
		if meta, group := damagedReplica(d); group != 0 {
			svc.damagedStreams.Add(1)
			svc.log.Error("a replicated stream's store is damaged: this replica drops its copy and rebuilds it from the raft log and its peers",
				"stream", d.Stream, "group", group, "damage", reason, "store_dir", rep.Dir, "wal_files", rep.WALFiles)
			if err := resetDamagedReplica(st, d, meta); err != nil {
				svc.log.Error("resetting a damaged replica failed; stream kept offline", "stream", d.Stream, "err", err)
				offline[d.Stream] = reason + "; resetting the replica failed: " + err.Error()
			}
			continue
		}
		first, last, lost := d.Lost()
		var n uint64
		if lost {
			n = last - first + 1
		}
		svc.lostMsgs.Add(n)
		svc.damagedStreams.Add(1)
		if d.ReadError != "" {
			// Unreadable is not lost: the range is not counted or called
			// missing, and the stream stays offline whatever the policy.
			uFirst, uLast, _ := d.Unverified()
			svc.log.Error("stream data cannot be read from the store", "stream", d.Stream,
				"unverified_first_seq", uFirst, "unverified_last_seq", uLast,
				"missing_consumers", consumerNames(d.MissingConsumers), "definition_missing", d.MetaMissing,
				"store_dir", rep.Dir, "read_error", d.ReadError,
				"action", "stream kept offline: what is missing is not known; run wisp store verify")
			offline[d.Stream] = reason
			continue
		}
		action := "serving what survived; the loss is recorded"
		if policy == RefuseDamaged {
			action = `stream kept offline (on_damage = "refuse"); restart with on_damage = "serve" to accept the loss`
		}
		svc.log.Error("acknowledged data missing from the store", "stream", d.Stream,
			"lost_first_seq", first, "lost_last_seq", last, "lost_messages", n,
			"missing_consumers", consumerNames(d.MissingConsumers), "definition_missing", d.MetaMissing,
			"store_dir", rep.Dir, "wal_files", rep.WALFiles, "action", action)
		if policy == RefuseDamaged {
			offline[d.Stream] = reason
			continue
		}
		if err := acceptDamage(st, d, svc.clock.Now()); err != nil {
			svc.log.Error("recording the loss failed; stream kept offline", "stream", d.Stream, "err", err)
			offline[d.Stream] = reason + "; recording the loss failed: " + err.Error()
		}
	}
	return offline
}

// acceptDamage makes the store match what was promised, as far as it can:
// the definition back from the manifest, the last sequence raised to the
// highest acknowledged one (so the gap is a gap, not a rollback), the loss
// recorded in the manifest, and lost consumers re-created from their
// definitions (without state: they restart from their deliver policy).
func acceptDamage(st Store, d *store.Damage, now time.Time) error {
	if d.MetaMissing && len(d.Meta) == 0 {
		return fmt.Errorf("the manifest holds no definition of stream %q", d.Stream)
	}
	return st.Do(func(b *store.Batch) error {
		if d.MetaMissing {
			if err := b.PutMeta(d.Stream, d.StreamID, d.Meta); err != nil {
				return err
			}
		}
		if first, last, lost := d.Lost(); lost {
			if err := b.SetLastSeq(d.StreamID, d.LastSeq, d.LastTime); err != nil {
				return err
			}
			b.NoteLoss(d.StreamID, store.LostRange{First: first, Last: last, LastTime: d.LastTime, Noted: now.UnixNano()})
		}
		for _, c := range d.MissingConsumers {
			if err := b.PutConsumerMeta(d.StreamID, c.Name, c.Meta); err != nil {
				return err
			}
		}
		return nil
	})
}

func describeDamage(d *store.Damage) string {
	var parts []string
	if d.ReadError != "" {
		parts = append(parts, "its data cannot be read: "+d.ReadError)
	}
	if first, last, ok := d.Unverified(); ok {
		parts = append(parts, fmt.Sprintf("acknowledged messages %d to %d cannot be verified", first, last))
	}
	if first, last, lost := d.Lost(); lost {
		parts = append(parts, fmt.Sprintf("acknowledged messages %d to %d are missing from the store", first, last))
	}
	if d.MetaMissing {
		parts = append(parts, "its definition is missing from the store")
	}
	if len(d.MissingConsumers) > 0 {
		parts = append(parts, "consumers missing from the store: "+strings.Join(consumerNames(d.MissingConsumers), ", "))
	}
	return strings.Join(parts, "; ")
}

func consumerNames(cs []store.ManifestConsumer) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

// noteDedupeGap makes de-duplication honest after a loss: message ids of
// lost messages are unknown, so until the duplicate window has passed over
// the newest lost message, a publish carrying a message id the stream does
// not hold is refused rather than risk storing a duplicate as new (ids of
// messages that survived are still answered as duplicates).
func (s *stream) noteDedupeGap(lost []store.LostRange) {
	if s.cfg.Duplicates <= 0 {
		return
	}
	for _, r := range lost {
		if until := r.LastTime + int64(s.cfg.Duplicates); until > s.dedupeGapUntil {
			s.dedupeGapUntil = until
		}
	}
}

// checkDedupeGap refuses a message id that cannot be checked; called with
// s.mu held.
func (s *stream) checkDedupeGap(now int64) *APIError {
	if now >= s.dedupeGapUntil {
		return nil
	}
	return apiErr(errStreamStoreFailed, fmt.Sprintf(
		"message id cannot be checked for duplicates: messages were lost from the stream's store within the duplicate window; retry after %s",
		time.Unix(0, s.dedupeGapUntil).UTC().Format(time.RFC3339)))
}

// offlineStream returns the reason stream name is offline, or "".
func (svc *Service) offlineStream(name string) string {
	svc.mu.RLock()
	defer svc.mu.RUnlock()
	return svc.offline[name]
}

// offlineRefusal answers an API request that names an offline stream;
// nil when the request names none.
func (svc *Service) offlineRefusal(rest string) *apiResponse {
	if len(svc.offline) == 0 { // set before the API is subscribed, then read-only
		return nil
	}
	name := ""
	if op, n, ok := splitAPI(rest); ok && strings.HasPrefix(op, "STREAM.") {
		name = n
	} else if tok := strings.Split(rest, "."); len(tok) >= 3 && tok[0] == "CONSUMER" {
		name = tok[2]
		if (tok[1] == "DURABLE" || tok[1] == "MSG" || tok[1] == "LEADER") && len(tok) >= 4 {
			name = tok[3]
		}
	}
	if reason := svc.offlineStream(name); reason != "" {
		return errResponse(typeUnknownAPIRequest, apiErr(errStreamOffline, reason))
	}
	return nil
}
