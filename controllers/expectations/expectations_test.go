package expectations

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestStore(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	s := New(clk)
	const key = "ns/web"
	if !s.Satisfied(key) {
		t.Fatal("no record must be satisfied")
	}

	// Set replaces the record; observations count down.
	s.Set(key, 2, []string{"ns/a"})
	s.Set(key, 2, []string{"ns/b"})
	if adds, dels, ok := s.Pending(key); !ok || adds != 2 || dels != 1 {
		t.Fatalf("pending after Set = %d, %d, %v", adds, dels, ok)
	}
	s.DeletionObserved(key, "ns/a") // replaced: not pending any more
	s.CreationObserved(key)
	s.CreationObserved(key)
	s.CreationObserved(key) // an extra one must not go below zero
	if s.Satisfied(key) {
		t.Fatal("ns/b's deletion is still outstanding")
	}
	s.DeletionObserved(key, "ns/b")
	s.DeletionObserved(key, "ns/b") // seen twice, counted once
	if !s.Satisfied(key) {
		t.Fatal("everything observed: want satisfied")
	}

	// Expect* accumulate.
	s.ExpectCreations(key, 1)
	s.ExpectCreations(key, 1)
	s.ExpectDeletion(key, "ns/c")
	s.ExpectRemoval(key, "uid-1")
	if adds, dels, _ := s.Pending(key); adds != 2 || dels != 1 {
		t.Fatalf("pending after Expect* = %d, %d", adds, dels)
	}
	if !s.RemovalPending(key, "uid-1") || s.RemovalPending(key, "uid-2") {
		t.Fatal("RemovalPending wrong")
	}
	s.CreationObserved(key)
	s.CreationObserved(key)
	s.DeletionObserved(key, "ns/c")
	if s.Satisfied(key) {
		t.Fatal("the removal is still outstanding")
	}
	s.RemovalObserved(key, "uid-1")
	if !s.Satisfied(key) {
		t.Fatal("want satisfied after the removal was seen")
	}

	// A record that is never fulfilled expires after TTL.
	s.ExpectCreations(key, 1)
	clk.SetTime(clk.Now().Add(TTL))
	if s.Satisfied(key) {
		t.Fatal("at exactly TTL the record still holds")
	}
	clk.SetTime(clk.Now().Add(time.Second))
	if !s.Satisfied(key) {
		t.Fatal("past TTL the record must expire")
	}

	s.Delete(key)
	if _, _, ok := s.Pending(key); ok {
		t.Fatal("Delete must forget the key")
	}
}
