package protocol

import (
	"testing"
)

func TestProtocolSmoke(t *testing.T) {
	for _, s := range []Scenario{
		{Name: "1 tenant, 1 push, reject", Tenants: 1, Pushes: 1, Rejects: 1, Depth: 200},
		{Name: "1 tenant, 1 push, alarm", Tenants: 1, Pushes: 1, Alarms: 1, Depth: 200},
		{Name: "1 tenant, 1 push, alarm, own-id", Tenants: 1, Pushes: 1, Alarms: 1, Depth: 200, Reading: Reading{true, false}},
		{Name: "1 tenant, 1 push, alarm, own-id first", Tenants: 1, Pushes: 1, Alarms: 1, Depth: 200, Reading: Reading{true, true}},
		{Name: "1 tenant, 1 push, alarm, same-id first", Tenants: 1, Pushes: 1, Alarms: 1, Depth: 200, Reading: Reading{false, true}},
		{Name: "1 tenant, 1 push, fault", Tenants: 1, Pushes: 1, Faults: 1, Depth: 200},
		{Name: "1 tenant, 1 push, edit", Tenants: 1, Pushes: 1, Edits: 1, Depth: 200},
		{Name: "0 tenants, 1 push, edit", Tenants: 0, Pushes: 1, Edits: 1, Depth: 200},
		{Name: "1 tenant, 1 push, hold reject", Tenants: 1, Pushes: 1, Rejects: 1, OnReject: "hold", Depth: 200},
		{Name: "1 tenant, 1 push, operator", Tenants: 1, Pushes: 1, Operator: 1, Depth: 200},
		{Name: "1 tenant, 2 pushes", Tenants: 1, Pushes: 2, Depth: 200},
	} {
		r := Explore(s)
		t.Log(r.Format())
		if r.Violation != nil {
			t.Error("violation")
		}
	}
}
