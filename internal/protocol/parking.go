package protocol

// Parking: a hook's goroutine outlives the world it ran in.
//
// A state the explorer keeps is a frozen copy of a world, its invocations
// as records (what they were given and answered); a copy that steps an
// invocation needs its goroutine at the record's pending call. Re-running
// the hook on the answers it got (respawn) costs one replay of every
// earlier call, at every step. Instead, the world a state was frozen from
// does not end its live goroutines: each is parked, blocked at its pending
// call, and the record keeps a handle to it. Copies of the record share
// the handle; the first copy to step the invocation adopts the goroutine
// (its client is rebound to that copy's world and record) and the others
// respawn as before. The hook's state is a function of the answers it got
// (what respawn relies on), so a parked goroutine with as many answers,
// and a deadline that passed at the same call, is the same hook as a
// replayed one: the exploration visits the same states in the same order.
//
// The explorer sweeps the parked goroutines after each level: one that no
// state of the next frontier holds is ended, and all are ended when the
// exploration ends. maxParked bounds the goroutines parked at once; past
// it a frozen world ends its goroutines as before.

const maxParked = 20000

type parked struct {
	inv      *Invocation // the live invocation, in the world it ran in
	pending  *pendingCall
	results  int // answers it got
	cancelAt int
	taken    bool
	gen      int
}

// parking is one exploration's parked goroutines, shared by every copy of
// its world.
type parking struct {
	live []*parked
	gen  int
}

// park hands inv's goroutine (live in a world about to be dropped) to
// rec, its record in a frozen copy.
func (pk *parking) park(inv, rec *Invocation) bool {
	if pk == nil || len(pk.live) >= maxParked || inv.ended || !inv.live || inv.pending == nil {
		return false
	}
	p := &parked{inv: inv, pending: inv.pending, results: len(inv.results), cancelAt: inv.cancelAt}
	inv.live = false // the world's abort leaves it running
	rec.parked = p
	pk.live = append(pk.live, p)
	return true
}

// adopt takes over the goroutine parked at inv's pending call, if there
// is one in the same place: the same number of answers, and its deadline
// passed at the same call (or not yet, and inv's passes now).
func (w *World) adopt(inv *Invocation) bool {
	p := inv.parked
	inv.parked = nil
	if p == nil || p.taken || p.results != len(inv.results) {
		return false
	}
	expireNow := p.cancelAt < 0 && inv.cancelAt == len(inv.results)
	if p.cancelAt != inv.cancelAt && !expireNow {
		return false
	}
	p.taken = true
	old := p.inv
	inv.ctx, inv.toWorld, inv.toHook, inv.client = old.ctx, old.toWorld, old.toHook, old.client
	inv.client.w, inv.client.inv = w, inv
	inv.pending, inv.live = p.pending, true
	if expireNow {
		inv.ctx.expire()
	}
	return true
}

// sweep ends every parked goroutine that no state in keep can adopt.
func (pk *parking) sweep(keep []*World) {
	if pk == nil {
		return
	}
	pk.gen++
	for _, w := range keep {
		for _, inv := range w.invocations {
			if p := inv.parked; p != nil {
				p.gen = pk.gen
			}
		}
	}
	live := pk.live[:0]
	for _, p := range pk.live {
		switch {
		case p.taken:
		case p.gen == pk.gen:
			live = append(live, p)
		default:
			p.end()
		}
	}
	clear(pk.live[len(live):])
	pk.live = live
}

// end ends every parked goroutine not adopted.
func (pk *parking) end() {
	if pk == nil {
		return
	}
	for _, p := range pk.live {
		if !p.taken {
			p.end()
		}
	}
	pk.live = nil
}

func (p *parked) end() {
	p.taken = true
	p.inv.abort()
}
