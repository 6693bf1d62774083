package protocol

import "slices"

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
	// next: the known steps of the hooks, by Invocation.answers.
	next map[uint64]*continuation
}

// after is the known step after the answers keyed by key.
func (pk *parking) after(key uint64) *continuation {
	if pk == nil {
		return nil
	}
	return pk.next[key]
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

// Known steps: a hook as a state machine.
//
// A hook is a function of its identity (function, request id, payload)
// and the answers it got, as long as its deadline has not passed (the
// model's contexts end only by expire): so is the call it makes next,
// the lines it logs on the way, and whether it ends instead, with what
// error. The explorer remembers each such step, keyed by a running hash
// of the identity and every answer (Invocation.answers), the first time a
// goroutine takes it. A copy of the world that steps an invocation whose
// step from there is known needs no goroutine: it runs the known call
// (the closure the hook built for it, with its client bound to this world
// and this invocation while it runs), and if the step after that answer
// is known too, the invocation moves to it as data. Only a step nobody
// took yet brings the goroutine back (adopt, or respawn), and answers it.
// The same interleaving reaches the same states: only who computes the
// hook's next call changes.

// continuation is one known step of a hook: after the answers keyed by
// it, the hook makes pending's call (through client c) or, with pending
// nil, ends with err; logs are what it logged on the way.
type continuation struct {
	pending *pendingCall
	c       *client
	err     error
	logs    []string
}

// known is the continuation inv is at, if its step can be taken without
// its goroutine: its deadline has not passed, and the known call is the
// one the record shows.
func (pk *parking) known(inv *Invocation) *continuation {
	if pk == nil || inv.cancelAt >= 0 || inv.timedOut {
		return nil
	}
	k := pk.next[inv.answers]
	if k == nil || k.pending == nil || k.pending.op != inv.pending.op || k.pending.detail != inv.pending.detail {
		return nil
	}
	return k
}

// remember records the step inv's goroutine just took (logs from index
// logged on).
func (pk *parking) remember(inv *Invocation, logged int) {
	if pk == nil || inv.cancelAt >= 0 || inv.timedOut || inv.killed {
		return
	}
	if _, ok := pk.next[inv.answers]; ok {
		return
	}
	if pk.next == nil {
		pk.next = map[uint64]*continuation{}
	}
	k := &continuation{c: inv.client, logs: slices.Clone(inv.logs[logged:])}
	if inv.ended {
		k.err = inv.err
	} else {
		k.pending = inv.pending
	}
	pk.next[inv.answers] = k
}

// run answers the known call in w for inv: the call's closure reads its
// client's world and invocation, bound to w and inv while it runs.
func (k *continuation) run(w *World, inv *Invocation, answer func() (any, error)) result {
	c := k.c
	cw, cinv := c.w, c.inv
	c.w, c.inv = w, inv
	defer func() { c.w, c.inv = cw, cinv }()
	var r result
	r.out, r.err = answer()
	return r
}

// apply moves inv, a record, to the known step k.
func (k *continuation) apply(inv *Invocation) {
	inv.logs = append(inv.logs, k.logs...)
	if k.pending == nil {
		inv.ended, inv.err, inv.pending = true, k.err, nil
		return
	}
	// The record keeps the call as data; its step runs k's (known).
	inv.pending = &pendingCall{op: k.pending.op, detail: k.pending.detail}
}
