package sublist

import "strings"

// SubjectsCollide reports whether some literal subject matches both
// patterns a and b (either may hold '*' and '>' wildcards): two streams
// whose subjects collide would both capture that subject.
func SubjectsCollide(a, b string) bool {
	for {
		at, arest, amore := strings.Cut(a, ".")
		bt, brest, bmore := strings.Cut(b, ".")
		if at == ">" || bt == ">" {
			return true // each side has a token here, and '>' takes any tail
		}
		if at != bt && at != "*" && bt != "*" {
			return false
		}
		if !amore || !bmore {
			return amore == bmore
		}
		a, b = arest, brest
	}
}
