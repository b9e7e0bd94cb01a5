package main

import (
	"math"
	"testing"
	"time"
)

func TestQuantileSince(t *testing.T) {
	inf := math.Inf(1)
	before := histogram{0.1: 10, 0.2: 10, 0.4: 10, inf: 10}
	// 100 new requests: 90 under 0.1 s, 8 in (0.1, 0.2], 2 in (0.2, 0.4].
	after := histogram{0.1: 100, 0.2: 108, 0.4: 110, inf: 110}
	v, n, ok := quantileSince(before, after, 0.99)
	// rank 99 falls in (0.2, 0.4] holding ranks 98-100: 0.2 + 0.2*(1/2).
	if !ok || n != 100 || v != 300*time.Millisecond {
		t.Errorf("p99 = %v over %d (exact %v), want 300ms over 100", v, n, ok)
	}
	// rank 50 of the 90 in (0, 0.1]: 0.1 * 50/90.
	if v, _, _ := quantileSince(before, after, 0.5); v.Round(time.Microsecond) != 55556*time.Microsecond {
		t.Errorf("p50 = %v, want 55.556ms", v)
	}
	// Requests slower than every bound: the largest bound, flagged.
	after[inf] = 130
	if v, _, ok := quantileSince(before, after, 0.99); ok || v != 400*time.Millisecond {
		t.Errorf("p99 past the buckets = %v (exact %v), want 400ms, not exact", v, ok)
	}
	if _, n, ok := quantileSince(before, before, 0.99); ok || n != 0 {
		t.Errorf("no requests: n %d ok %v", n, ok)
	}
}
