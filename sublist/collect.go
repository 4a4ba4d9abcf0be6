package sublist

// groupMapThreshold is the number of groups above which collect indexes
// groups by name; below it a linear scan is cheaper than a map.
const groupMapThreshold = 8

// collect builds a fresh Result from the trie nodes a subject reached. It
// sizes Plain exactly before copying (one allocation instead of a chain of
// append growths on every cache miss). Every slice is a copy: nodes keep
// changing after the Result is published, the Result must not. A group
// reached through several patterns appears once, with all members.
func collect[T comparable](nodes []*node[T]) *Result[T] {
	r := &Result[T]{}
	plain, queued := 0, false
	for _, n := range nodes {
		plain += n.plain.len()
		queued = queued || len(n.queues) > 0
	}
	if plain > 0 {
		r.Plain = make([]T, 0, plain)
		for _, n := range nodes {
			r.Plain = append(r.Plain, n.plain.items...)
		}
	}
	if queued {
		r.Groups = collectGroups(nodes)
	}
	return r
}

// collectGroups merges the queue groups of nodes by name.
func collectGroups[T comparable](nodes []*node[T]) []Group[T] {
	var groups []Group[T]
	var byName map[string]int
	for _, n := range nodes {
		for name, set := range n.queues {
			i := groupIndex(groups, byName, name)
			if i < 0 {
				groups = append(groups, Group[T]{Name: name})
				i = len(groups) - 1
				if byName != nil {
					byName[name] = i
				} else if len(groups) > groupMapThreshold {
					byName = make(map[string]int, 2*len(groups))
					for j := range groups {
						byName[groups[j].Name] = j
					}
				}
			}
			groups[i].Members = append(groups[i].Members, set.items...)
		}
	}
	return groups
}

// groupIndex finds a group by name, through byName once there is one.
func groupIndex[T comparable](groups []Group[T], byName map[string]int, name string) int {
	if byName != nil {
		if i, ok := byName[name]; ok {
			return i
		}
		return -1
	}
	for i := range groups {
		if groups[i].Name == name {
			return i
		}
	}
	return -1
}
