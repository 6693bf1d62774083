package plan

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// EvalExpression evaluates the subset of CloudWatch metric math the alarms
// use, for one period: numbers, metric ids, + - * /, the comparisons
// >= > <= < == != (1 when true, 0 when false), IF(condition, then, else)
// (a non-zero condition is true) and FILL(series, value). As in CloudWatch,
// an id without a data point in the period is missing, FILL replaces a
// missing value, and any other operation on a missing value is missing (as
// is a division by zero). The second result is false when the value is
// missing. It exists so the tests run the alarms' real expressions over
// sample periods (CloudWatch user guide, "Using math expressions with
// CloudWatch metrics").
func EvalExpression(expr string, p Period) (float64, bool, error) {
	ps := &exprParser{src: expr, period: p}
	v, err := ps.expr()
	if err == nil {
		ps.space()
		if ps.pos < len(ps.src) {
			err = fmt.Errorf("unexpected %q at %d", ps.src[ps.pos:], ps.pos)
		}
	}
	if err != nil {
		return 0, false, fmt.Errorf("metric math %q: %w", expr, err)
	}
	return v.v, v.ok, nil
}

type mval struct {
	v  float64
	ok bool
}

type exprParser struct {
	src    string
	pos    int
	period Period
}

func (p *exprParser) space() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *exprParser) take(tok string) bool {
	p.space()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

// expr := sum [cmp sum]
func (p *exprParser) expr() (mval, error) {
	l, err := p.sum()
	if err != nil {
		return l, err
	}
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
		if !p.take(op) {
			continue
		}
		r, err := p.sum()
		if err != nil {
			return r, err
		}
		if !l.ok || !r.ok {
			return mval{}, nil
		}
		var b bool
		switch op {
		case ">=":
			b = l.v >= r.v
		case "<=":
			b = l.v <= r.v
		case "==":
			b = l.v == r.v
		case "!=":
			b = l.v != r.v
		case ">":
			b = l.v > r.v
		case "<":
			b = l.v < r.v
		}
		if b {
			return mval{1, true}, nil
		}
		return mval{0, true}, nil
	}
	return l, nil
}

func (p *exprParser) sum() (mval, error) {
	l, err := p.product()
	for err == nil {
		var op string
		switch {
		case p.take("+"):
			op = "+"
		case p.take("-"):
			op = "-"
		default:
			return l, nil
		}
		var r mval
		if r, err = p.product(); err != nil {
			break
		}
		if !l.ok || !r.ok {
			l = mval{}
		} else if op == "+" {
			l = mval{l.v + r.v, true}
		} else {
			l = mval{l.v - r.v, true}
		}
	}
	return l, err
}

func (p *exprParser) product() (mval, error) {
	l, err := p.unary()
	for err == nil {
		var op string
		switch {
		case p.take("*"):
			op = "*"
		case p.take("/"):
			op = "/"
		default:
			return l, nil
		}
		var r mval
		if r, err = p.unary(); err != nil {
			break
		}
		switch {
		case !l.ok || !r.ok:
			l = mval{}
		case op == "*":
			l = mval{l.v * r.v, true}
		case r.v == 0:
			l = mval{}
		default:
			l = mval{l.v / r.v, true}
		}
	}
	return l, err
}

func (p *exprParser) unary() (mval, error) {
	if p.take("-") {
		v, err := p.unary()
		return mval{-v.v, v.ok}, err
	}
	return p.primary()
}

func (p *exprParser) primary() (mval, error) {
	p.space()
	if p.take("(") {
		v, err := p.expr()
		if err == nil && !p.take(")") {
			err = fmt.Errorf("missing ) at %d", p.pos)
		}
		return v, err
	}
	start := p.pos
	for p.pos < len(p.src) && (unicode.IsLetter(rune(p.src[p.pos])) || unicode.IsDigit(rune(p.src[p.pos])) || p.src[p.pos] == '_' || p.src[p.pos] == '.') {
		p.pos++
	}
	word := p.src[start:p.pos]
	if word == "" {
		return mval{}, fmt.Errorf("expected a value at %d", start)
	}
	if n, err := strconv.ParseFloat(word, 64); err == nil {
		return mval{n, true}, nil
	}
	if !p.take("(") {
		if !unicode.IsLower(rune(word[0])) {
			return mval{}, fmt.Errorf("%q is not a metric id", word)
		}
		v, ok := p.period[word]
		return mval{v, ok}, nil
	}
	var args []mval
	for {
		v, err := p.expr()
		if err != nil {
			return v, err
		}
		args = append(args, v)
		if p.take(")") {
			break
		}
		if !p.take(",") {
			return mval{}, fmt.Errorf("expected , or ) at %d", p.pos)
		}
	}
	switch {
	case word == "IF" && len(args) == 3:
		if !args[0].ok {
			return mval{}, nil
		}
		if args[0].v != 0 {
			return args[1], nil
		}
		return args[2], nil
	case word == "FILL" && len(args) == 2:
		if args[0].ok {
			return args[0], nil
		}
		return args[1], nil
	}
	return mval{}, fmt.Errorf("unsupported function %s with %d arguments", word, len(args))
}
