package stream

import (
	"maps"
	"strconv"
)

// Version metadata: the three reserved keys of config.metadata that say
// which API level a stream or consumer needs and which server answered
// (docs/streams.md, "Version metadata"). Clients read them to tell
// whether an asset uses features an older server would not understand.
//
//   - _nats.req.level: the lowest API level whose features the config
//     uses, derived from the config. Every stream and consumer config in
//     a reply carries it.
//   - _nats.ver and _nats.level: the version and the API level of the
//     server that answered (Options.ServerVersion and APILevel). They
//     describe the reply, not the asset, so they are added to the replies
//     of create, update, info, restore and consumer reset only; lists
//     carry the asset's own keys.
//
// None of them is stored: a request's copies are dropped on the way in
// (dropVersionMetadata), so a config sent back as read (as clients do to
// update) equals the stored one, and the keys always say what the
// config and the server are now.
const (
	metaRequiredLevel = "_nats.req.level"
	metaServerVersion = "_nats.ver"
	metaServerLevel   = "_nats.level"
)

// dropVersionMetadata removes the reserved keys from a requested config's
// metadata, leaving nil when nothing else is in it.
func dropVersionMetadata(md *map[string]string) {
	if *md == nil {
		return
	}
	delete(*md, metaRequiredLevel)
	delete(*md, metaServerVersion)
	delete(*md, metaServerLevel)
	if len(*md) == 0 {
		*md = nil
	}
}

// withoutVersionMetadata is md without the reserved keys: md itself when
// it has none, else a copy (nil when nothing else is left). A config
// stored before the keys were dropped on the way in may still hold them.
func withoutVersionMetadata(md map[string]string) map[string]string {
	_, a := md[metaRequiredLevel]
	_, b := md[metaServerVersion]
	_, c := md[metaServerLevel]
	if !a && !b && !c {
		return md
	}
	out := maps.Clone(md)
	dropVersionMetadata(&out)
	return out
}

// requiredLevel is the lowest API level whose features the stream config
// uses: per-message TTLs and delete markers came with level 1; counters,
// atomic batches, schedules and the async persist mode with 2; fast
// batches with 4.
func (c *Config) requiredLevel() int {
	level := 0
	needs := func(l int) { level = max(level, l) }
	if c.AllowMsgTTL || c.SubjectDeleteMarkerTTL > 0 {
		needs(1)
	}
	if c.AllowMsgCounter || c.AllowAtomic || c.AllowSchedules || c.PersistMode == "async" {
		needs(2)
	}
	if c.AllowBatched {
		needs(4)
	}
	return level
}

// requiredLevel is the lowest API level whose features the consumer
// config uses: pausing and priority groups came with level 1.
func (c *ConsumerConfig) requiredLevel() int {
	if c.PauseUntil != nil && !c.PauseUntil.IsZero() ||
		c.PriorityPolicy != "" && c.PriorityPolicy != priorityPolicyNone || c.PinnedTTL != 0 || len(c.PriorityGroups) > 0 {
		return 1
	}
	return 0
}

// withRequiredLevel returns a copy of md (never md itself: it is the
// stored config's) with the required level set.
func withRequiredLevel(md map[string]string, level int) map[string]string {
	out := make(map[string]string, len(md)+3)
	maps.Copy(out, md)
	out[metaRequiredLevel] = strconv.Itoa(level)
	return out
}

// addServerMetadata adds the answering server's keys to md, a copy made
// by withRequiredLevel. The version is left out when the layer was not
// told it.
func (svc *Service) addServerMetadata(md map[string]string) {
	if md == nil {
		return
	}
	if svc != nil && svc.serverVersion != "" {
		md[metaServerVersion] = svc.serverVersion
	}
	md[metaServerLevel] = strconv.Itoa(APILevel)
}
