package cloudwatch

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Metric math, as "Using metric math" defines it
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
// An expression is evaluated one period (one timestamp of the result) at a
// time; every value is a point that either exists or is missing there.
// Which operand is a time series and which a scalar is decided when the
// expression is compiled, because the rules differ:
//
//   - Arithmetic (+ - * / ^, unary -): "Missing values in a time series are
//     treated as 0. If the value of a data point causes a function to
//     attempt to divide by zero, the data point is dropped." Between two
//     series the result has a point wherever either has one (the missing
//     side counts as 0); between a series and a scalar it has a point where
//     the series has one, unless the reading GapAsZero holds (see Reading).
//   - Comparisons (== != <= >= < >) give 1 or 0; "When comparison operators
//     are used between two time series, and only one of the time series has
//     a value for a particular time stamp, the function treats the missing
//     value in the other time series as 0." AND/&& and OR/|| likewise.
//   - IF(condition, trueValue[, falseValue]) ("Using IF expressions"): a
//     condition of 0 is false, any other value true; where the condition
//     has no point the result has none; true picks trueValue, and a true
//     condition whose trueValue series has no point there gives 0; false
//     picks falseValue, and gives no point when falseValue has none or is
//     omitted.
//   - FILL(series, scalar): the series with every missing value replaced,
//     so it has a point in every period the alarm evaluates, including a
//     newest minute not yet published — the page's warning: that "can
//     result in the alarm being stuck in either OK state or ALARM state".
//
// Only the functions above are modelled; any other is a compile error, so a
// declaration cannot use a function the model would silently misread.

type point struct {
	v  float64
	ok bool
}

type opKind uint8

const (
	opNum opKind = iota
	opRef
	opNeg
	opAdd
	opSub
	opMul
	opDiv
	opPow
	opEq
	opNe
	opLe
	opGe
	opLt
	opGt
	opAnd
	opOr
	opIf
	opFill
)

// node is one operation of a compiled expression; children are indices in
// the expression's node slice (-1: none).
type node struct {
	op      opKind
	series  bool
	num     float64
	ref     int // opRef: index of the query it reads
	a, b, c int
}

// expr is a compiled expression; root is its result node.
type expr struct {
	nodes []node
	root  int
}

// resolver gives the compiler the query an id names, and whether it is a
// series (metrics and expressions are; CloudWatch has no scalar queries).
type resolver func(id string) (int, bool)

// compileExpr parses src. ids are resolved through ref.
func compileExpr(src string, ref resolver) (expr, error) {
	p := &parser{src: src, ref: ref}
	root, err := p.or()
	if err == nil {
		p.space()
		if p.pos < len(p.src) {
			err = fmt.Errorf("unexpected %q at %d", p.src[p.pos:], p.pos)
		}
	}
	if err != nil {
		return expr{}, fmt.Errorf("metric math %q: %w", src, err)
	}
	if !p.nodes[root].series {
		return expr{}, fmt.Errorf("metric math %q: the result is a scalar; an alarm needs a time series (\"Using metric math\")", src)
	}
	return expr{nodes: p.nodes, root: root}, nil
}

type parser struct {
	src   string
	pos   int
	nodes []node
	ref   resolver
}

func (p *parser) add(n node) int {
	p.nodes = append(p.nodes, n)
	return len(p.nodes) - 1
}

func (p *parser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n') {
		p.pos++
	}
}

func (p *parser) take(tok string) bool {
	p.space()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

// takeWord takes a keyword operator (AND, OR) only as a whole word.
func (p *parser) takeWord(w string) bool {
	p.space()
	if !strings.HasPrefix(p.src[p.pos:], w) {
		return false
	}
	end := p.pos + len(w)
	if end < len(p.src) && isWordByte(p.src[end]) {
		return false
	}
	p.pos = end
	return true
}

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func (p *parser) binary(op opKind, a, b int) int {
	return p.add(node{op: op, a: a, b: b, c: -1, series: p.nodes[a].series || p.nodes[b].series})
}

func (p *parser) or() (int, error) {
	l, err := p.and()
	for err == nil && (p.take("||") || p.takeWord("OR")) {
		var r int
		if r, err = p.and(); err == nil {
			l = p.binary(opOr, l, r)
		}
	}
	return l, err
}

func (p *parser) and() (int, error) {
	l, err := p.cmp()
	for err == nil && (p.take("&&") || p.takeWord("AND")) {
		var r int
		if r, err = p.cmp(); err == nil {
			l = p.binary(opAnd, l, r)
		}
	}
	return l, err
}

var comparisons = []struct {
	tok string
	op  opKind
}{{">=", opGe}, {"<=", opLe}, {"==", opEq}, {"!=", opNe}, {">", opGt}, {"<", opLt}}

func (p *parser) cmp() (int, error) {
	l, err := p.sum()
	if err != nil {
		return l, err
	}
	for _, c := range comparisons {
		if p.take(c.tok) {
			r, err := p.sum()
			if err != nil {
				return r, err
			}
			return p.binary(c.op, l, r), nil
		}
	}
	return l, nil
}

func (p *parser) sum() (int, error) {
	l, err := p.product()
	for err == nil {
		var op opKind
		switch {
		case p.take("+"):
			op = opAdd
		case p.take("-"):
			op = opSub
		default:
			return l, nil
		}
		var r int
		if r, err = p.product(); err == nil {
			l = p.binary(op, l, r)
		}
	}
	return l, err
}

func (p *parser) product() (int, error) {
	l, err := p.power()
	for err == nil {
		var op opKind
		switch {
		case p.take("*"):
			op = opMul
		case p.take("/"):
			op = opDiv
		default:
			return l, nil
		}
		var r int
		if r, err = p.power(); err == nil {
			l = p.binary(op, l, r)
		}
	}
	return l, err
}

func (p *parser) power() (int, error) {
	l, err := p.unary()
	if err == nil && p.take("^") {
		var r int
		if r, err = p.power(); err == nil {
			l = p.binary(opPow, l, r)
		}
	}
	return l, err
}

func (p *parser) unary() (int, error) {
	if p.take("-") {
		a, err := p.unary()
		if err != nil {
			return a, err
		}
		return p.add(node{op: opNeg, a: a, b: -1, c: -1, series: p.nodes[a].series}), nil
	}
	return p.primary()
}

func (p *parser) primary() (int, error) {
	p.space()
	if p.take("(") {
		v, err := p.or()
		if err == nil && !p.take(")") {
			err = fmt.Errorf("missing ) at %d", p.pos)
		}
		return v, err
	}
	start := p.pos
	for p.pos < len(p.src) && isWordByte(p.src[p.pos]) {
		p.pos++
	}
	word := p.src[start:p.pos]
	if word == "" {
		return -1, fmt.Errorf("expected a value at %d", start)
	}
	if n, err := strconv.ParseFloat(word, 64); err == nil {
		return p.add(node{op: opNum, num: n, a: -1, b: -1, c: -1}), nil
	}
	if !p.take("(") {
		// An id "must start with a lowercase letter" ("Using metric math").
		if word[0] < 'a' || word[0] > 'z' {
			return -1, fmt.Errorf("%q is not a metric id (ids start with a lower-case letter)", word)
		}
		q, ok := p.ref(word)
		if !ok {
			return -1, fmt.Errorf("no query has the id %q", word)
		}
		return p.add(node{op: opRef, ref: q, series: true, a: -1, b: -1, c: -1}), nil
	}
	var args []int
	for {
		a, err := p.or()
		if err != nil {
			return a, err
		}
		args = append(args, a)
		if p.take(")") {
			break
		}
		if !p.take(",") {
			return -1, fmt.Errorf("expected , or ) at %d", p.pos)
		}
	}
	switch {
	case word == "IF" && (len(args) == 2 || len(args) == 3):
		c := -1
		if len(args) == 3 {
			c = args[2]
		}
		// The result of IF is a time series (the page's table of syntaxes).
		return p.add(node{op: opIf, a: args[0], b: args[1], c: c, series: true}), nil
	case word == "FILL" && len(args) == 2:
		if !p.nodes[args[0]].series || p.nodes[args[1]].series {
			return -1, fmt.Errorf("FILL is modelled for FILL(series, scalar) only")
		}
		return p.add(node{op: opFill, a: args[0], b: args[1], c: -1, series: true}), nil
	}
	return -1, fmt.Errorf("%s with %d arguments is not modelled (only IF and FILL)", word, len(args))
}

// eval is the point of node i in the context's period.
func (e *expr) eval(i int, ctx *period) point {
	n := &e.nodes[i]
	switch n.op {
	case opNum:
		return point{n.num, true}
	case opRef:
		return ctx.query(n.ref)
	case opNeg:
		a := e.eval(n.a, ctx)
		return point{-a.v, a.ok}
	case opFill:
		a := e.eval(n.a, ctx)
		if a.ok {
			return a
		}
		return e.eval(n.b, ctx)
	case opIf:
		return e.evalIf(n, ctx)
	}
	l, r := e.eval(n.a, ctx), e.eval(n.b, ctx)
	ls, rs := e.nodes[n.a].series, e.nodes[n.b].series
	switch {
	case ls && rs:
		// Two series: a point wherever either has one, the other's
		// missing value counting as 0.
		if !l.ok && !r.ok {
			return point{}
		}
	case ls || rs:
		// A series and a scalar: a point where the series has one.
		if (ls && !l.ok) || (rs && !r.ok) {
			if !ctx.reading.GapAsZero {
				return point{}
			}
		}
	}
	if !l.ok {
		l = point{0, true}
	}
	if !r.ok {
		r = point{0, true}
	}
	return apply(n.op, l.v, r.v)
}

func (e *expr) evalIf(n *node, ctx *period) point {
	cond := e.eval(n.a, ctx)
	if !cond.ok {
		if !e.nodes[n.a].series || !ctx.reading.GapAsZero {
			return point{}
		}
		cond = point{0, true}
	}
	if cond.v != 0 {
		t := e.eval(n.b, ctx)
		if !t.ok && e.nodes[n.a].series && e.nodes[n.b].series {
			// "has the value of 0, if the corresponding data point of
			// metric1 is TRUE and the corresponding data point does not
			// exist in metric2".
			return point{0, true}
		}
		return t
	}
	if n.c < 0 {
		return point{}
	}
	return e.eval(n.c, ctx)
}

func apply(op opKind, l, r float64) point {
	b := func(c bool) point {
		if c {
			return point{1, true}
		}
		return point{0, true}
	}
	switch op {
	case opAdd:
		return point{l + r, true}
	case opSub:
		return point{l - r, true}
	case opMul:
		return point{l * r, true}
	case opDiv:
		if r == 0 {
			return point{} // "the data point is dropped"
		}
		return point{l / r, true}
	case opPow:
		v := math.Pow(l, r)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return point{}
		}
		return point{v, true}
	case opEq:
		return b(l == r)
	case opNe:
		return b(l != r)
	case opLe:
		return b(l <= r)
	case opGe:
		return b(l >= r)
	case opLt:
		return b(l < r)
	case opGt:
		return b(l > r)
	case opAnd:
		return b(l != 0 && r != 0)
	case opOr:
		return b(l != 0 || r != 0)
	}
	panic(fmt.Sprintf("cloudwatch: unknown operator %d", op))
}
