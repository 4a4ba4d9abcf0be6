package stream

import (
	"strings"
	"testing"
)

// The text retryNotLeader looks for is what an API error caused by
// errNotLeader carries (apiErr puts the cause into the description).
func TestNotLeaderTextInAPIError(t *testing.T) {
	if notLeaderText == "" || notLeaderText == errNotLeader.Error() {
		t.Fatalf("notLeaderText %q", notLeaderText)
	}
	if e := apiErr(errConsumerCreate, errNotLeader); !strings.Contains(e.Description, notLeaderText) {
		t.Fatalf("description %q lacks %q", e.Description, notLeaderText)
	}
}
