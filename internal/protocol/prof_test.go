package protocol

import "testing"

func TestProf(t *testing.T) {
	r := Explore(Scenario{Name: "p", Tenants: 1, Pushes: 1, Alarms: 1, Depth: 200, MaxStates: 5000})
	t.Log(r.Format())
}
