package storage

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	// ErrAllocated means the value is taken.
	ErrAllocated = errors.New("provided value is already allocated")
	// ErrFull means no value is left.
	ErrFull = errors.New("range is full")
	// ErrNotInRange means the value lies outside the range.
	ErrNotInRange = errors.New("provided value is not in the valid range")
)

// Allocator hands out unique values of a range (IPs of a CIDR, ports of a
// port range). Each taken value is an etcd key created in a transaction,
// so allocations survive restarts and are safe across several servers.
type Allocator struct {
	client *clientv3.Client
	prefix string
	// Range describes the range for error messages, e.g. 10.43.0.0/16.
	Range string
	size  int
	// static is the lower band kept for values that users ask for by name;
	// random picks start above it (as upstream does for cluster IPs).
	static  int
	valueOf func(offset int) string
	offset  func(value string) (int, bool)
}

// NewIPAllocator allocates addresses of a CIDR, except its network and
// broadcast addresses.
func NewIPAllocator(client *clientv3.Client, name string, cidr *net.IPNet) *Allocator {
	ones, bits := cidr.Mask.Size()
	hostBits := bits - ones
	if hostBits > 20 {
		hostBits = 20 // at most a million addresses
	}
	size := 1<<hostBits - 2
	base := new(big.Int).SetBytes(cidr.IP.To16())
	if v4 := cidr.IP.To4(); v4 != nil {
		base = new(big.Int).SetBytes(v4)
	}
	is4 := cidr.IP.To4() != nil
	static := size / 16
	if static < 16 {
		static = 16
	}
	if static > 256 {
		static = 256
	}
	if static >= size {
		static = 0
	}
	return &Allocator{
		client: client, prefix: "/registry/corral/allocations/" + name + "/", Range: cidr.String(), size: size, static: static,
		valueOf: func(off int) string {
			n := new(big.Int).Add(base, big.NewInt(int64(off+1)))
			b := n.Bytes()
			width := 16
			if is4 {
				width = 4
			}
			ip := make(net.IP, width)
			copy(ip[width-len(b):], b)
			return ip.String()
		},
		offset: func(value string) (int, bool) {
			ip := net.ParseIP(value)
			if ip == nil || !cidr.Contains(ip) || (ip.To4() != nil) != is4 {
				return 0, false
			}
			if is4 {
				ip = ip.To4()
			}
			off := new(big.Int).Sub(new(big.Int).SetBytes(ip), base).Int64() - 1
			return int(off), off >= 0 && off < int64(size)
		},
	}
}

// NewPortAllocator allocates ports base..base+size-1.
func NewPortAllocator(client *clientv3.Client, name string, base, size int) *Allocator {
	return &Allocator{
		client: client, prefix: "/registry/corral/allocations/" + name + "/",
		Range: fmt.Sprintf("%d-%d", base, base+size-1), size: size,
		valueOf: func(off int) string { return strconv.Itoa(base + off) },
		offset: func(value string) (int, bool) {
			p, err := strconv.Atoi(value)
			return p - base, err == nil && p >= base && p < base+size
		},
	}
}

// Contains reports whether value lies in the range.
func (a *Allocator) Contains(value string) bool {
	_, ok := a.offset(value)
	return ok
}

// Allocate takes a specific value for owner.
func (a *Allocator) Allocate(ctx context.Context, value, owner string) error {
	off, ok := a.offset(value)
	if !ok {
		return ErrNotInRange
	}
	return a.take(ctx, a.valueOf(off), owner)
}

func (a *Allocator) take(ctx context.Context, value, owner string) error {
	key := a.prefix + value
	resp, err := a.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, owner)).
		Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return ErrAllocated
	}
	return nil
}

// AllocateNext takes any free value for owner, preferring the band above
// the static one.
func (a *Allocator) AllocateNext(ctx context.Context, owner string) (string, error) {
	for attempt := 0; attempt < 5; attempt++ {
		taken, err := a.taken(ctx)
		if err != nil {
			return "", err
		}
		off, ok := a.pickFree(taken)
		if !ok {
			return "", ErrFull
		}
		err = a.take(ctx, a.valueOf(off), owner)
		if err == nil {
			return a.valueOf(off), nil
		}
		if !errors.Is(err, ErrAllocated) {
			return "", err
		}
	}
	return "", fmt.Errorf("could not allocate from %s: too many concurrent allocations", a.Range)
}

func (a *Allocator) pickFree(taken map[int]bool) (int, bool) {
	scan := func(lo, hi int) (int, bool) {
		if hi <= lo {
			return 0, false
		}
		start := lo + rand.IntN(hi-lo)
		for i := 0; i < hi-lo; i++ {
			off := lo + (start-lo+i)%(hi-lo)
			if !taken[off] {
				return off, true
			}
		}
		return 0, false
	}
	if off, ok := scan(a.static, a.size); ok {
		return off, true
	}
	return scan(0, a.static)
}

func (a *Allocator) taken(ctx context.Context) (map[int]bool, error) {
	resp, err := a.client.Get(ctx, a.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	taken := make(map[int]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if off, ok := a.offset(string(kv.Key[len(a.prefix):])); ok {
			taken[off] = true
		}
	}
	return taken, nil
}

// Release frees a value; releasing a free value is not an error.
func (a *Allocator) Release(ctx context.Context, value string) error {
	_, err := a.client.Delete(ctx, a.prefix+value)
	return err
}

// Owner returns who holds value, or "" when it is free.
func (a *Allocator) Owner(ctx context.Context, value string) (string, error) {
	resp, err := a.client.Get(ctx, a.prefix+value)
	if err != nil || len(resp.Kvs) == 0 {
		return "", err
	}
	return string(resp.Kvs[0].Value), nil
}

// First is the lowest value of the range (the kubernetes service's IP).
func (a *Allocator) First() string { return a.valueOf(0) }
