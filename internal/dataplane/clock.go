package dataplane

import (
	"fmt"
	"time"
)

// MaxSpeed bounds the clock's factor: at 600 one rehearsal minute is 100 ms,
// shorter than a loopback health check can be trusted to take on a busy
// machine (the ALB times a check on this clock).
const MaxSpeed = 600

// Clock is the rehearsal's time: the wall clock since the clock started,
// multiplied by a speed factor, counted from a whole minute (so the first
// metric minute is whole). The local ALB reads it for health-check
// schedules, response times and metric minutes; the data plane for the
// deregistration delay. It is safe for concurrent use.
type Clock struct {
	origin time.Time // rehearsal time at start, a whole minute
	start  time.Time // wall time at start (monotonic)
	speed  float64
}

// NewClock starts a clock running speed times faster than the wall clock
// (1 is real time; 60 makes a rehearsal minute last one second). Its time
// begins at the whole minute of the wall clock's present.
func NewClock(speed float64) (*Clock, error) {
	if !(speed >= 1 && speed <= MaxSpeed) {
		return nil, fmt.Errorf("clock speed %v: want a factor from 1 (real time) to %d (a minute in %s)", speed, MaxSpeed, time.Minute/MaxSpeed)
	}
	now := time.Now()
	return &Clock{origin: now.Truncate(time.Minute).UTC(), start: now, speed: speed}, nil
}

// SpeedForMinute is the factor that makes one rehearsal minute last d of
// wall time.
func SpeedForMinute(d time.Duration) float64 { return float64(time.Minute) / float64(d) }

// Now is the rehearsal time.
func (c *Clock) Now() time.Time {
	return c.origin.Add(time.Duration(float64(time.Since(c.start)) * c.speed))
}

// Origin is the rehearsal time the clock started at: minute 0 of Samples.
func (c *Clock) Origin() time.Time { return c.origin }

// Speed is the factor.
func (c *Clock) Speed() float64 { return c.speed }

// Wall is how long d of rehearsal time lasts on the wall clock.
func (c *Clock) Wall(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}

// Minute is the index of the rehearsal minute holding t, minute 0 being the
// one the clock started in.
func (c *Clock) Minute(t time.Time) int {
	return int(t.Sub(c.origin) / time.Minute)
}
