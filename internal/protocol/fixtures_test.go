package protocol

import (
	"path/filepath"
	"sync"

	"github.com/tenant-canary/tenant-canary/internal/declared"
)

var fixtures sync.Map // name → *declared.Stack

// fixture is the declared stack testdata/stacks/NAME.json: what the
// program declares for that stack's config (the root package's
// TestProtocolFixturesAreWhatTheProgramDeclares keeps it so). tenants-N
// pins t0…t(N-1); linear and all-at-once set traffic; hold sets
// approval.onReject=hold (each of those with one tenant, t0).
func fixture(name string) *declared.Stack {
	if s, ok := fixtures.Load(name); ok {
		return s.(*declared.Stack)
	}
	s, err := LoadStack(filepath.Join("testdata", "stacks", name+".json"))
	if err != nil {
		panic(err)
	}
	v, _ := fixtures.LoadOrStore(name, s)
	return v.(*declared.Stack)
}
