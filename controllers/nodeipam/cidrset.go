package nodeipam

import (
	"fmt"
	"math/big"
	"net"
)

// maxBits bounds the in-memory set, as upstream limits the difference
// between cluster and node mask sizes to 16 bits.
const maxBits = 16

// cidrSet tracks which node-sized blocks of the cluster CIDR are taken and
// by which node. It is not locked: the controller serialises access.
type cidrSet struct {
	base     *big.Int
	bits     int // address length: 32 or 128
	maskSize int
	blocks   int
	next     int            // where the next search starts (round robin)
	owner    map[int]string // block → node
	byNode   map[string]int
}

func newCIDRSet(cluster *net.IPNet, maskSize int) (*cidrSet, error) {
	if cluster == nil {
		return nil, fmt.Errorf("no cluster CIDR")
	}
	ones, bits := cluster.Mask.Size()
	if maskSize < ones || maskSize > bits {
		return nil, fmt.Errorf("node mask size /%d does not fit in cluster CIDR %s", maskSize, cluster)
	}
	if maskSize-ones > maxBits {
		return nil, fmt.Errorf("node mask size /%d splits %s into more than 2^%d blocks", maskSize, cluster, maxBits)
	}
	ip := cluster.IP.Mask(cluster.Mask)
	if bits == 32 {
		ip = ip.To4()
	}
	return &cidrSet{base: new(big.Int).SetBytes(ip), bits: bits, maskSize: maskSize, blocks: 1 << (maskSize - ones),
		owner: map[int]string{}, byNode: map[string]int{}}, nil
}

func (s *cidrSet) cidr(i int) string {
	v := new(big.Int).Lsh(big.NewInt(int64(i)), uint(s.bits-s.maskSize))
	v.Add(v, s.base)
	b := v.FillBytes(make([]byte, s.bits/8))
	return (&net.IPNet{IP: net.IP(b), Mask: net.CIDRMask(s.maskSize, s.bits)}).String()
}

// index returns the block a CIDR is, or false when it is not one of ours.
func (s *cidrSet) index(cidr string) (int, bool) {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return 0, false
	}
	if ones, bits := n.Mask.Size(); ones != s.maskSize || bits != s.bits {
		return 0, false
	}
	if s.bits == 32 {
		ip = ip.To4()
	}
	off := new(big.Int).Sub(new(big.Int).SetBytes(ip.Mask(n.Mask)), s.base)
	if off.Sign() < 0 {
		return 0, false
	}
	off.Rsh(off, uint(s.bits-s.maskSize))
	if !off.IsInt64() || off.Int64() >= int64(s.blocks) {
		return 0, false
	}
	return int(off.Int64()), true
}

// occupy records that node uses cidr. It reports false when the block is
// another node's (a conflict left by someone else) or not in the range.
func (s *cidrSet) occupy(node, cidr string) bool {
	i, ok := s.index(cidr)
	if !ok {
		return false
	}
	if o, taken := s.owner[i]; taken && o != node {
		return false
	}
	if old, had := s.byNode[node]; had && old != i {
		delete(s.owner, old)
	}
	s.owner[i], s.byNode[node] = node, i
	return true
}

// allocate returns the node's block, taking a free one if it has none.
func (s *cidrSet) allocate(node string) (string, bool) {
	if i, ok := s.byNode[node]; ok {
		return s.cidr(i), true
	}
	for k := 0; k < s.blocks; k++ {
		i := (s.next + k) % s.blocks
		if _, taken := s.owner[i]; !taken {
			s.owner[i], s.byNode[node] = node, i
			s.next = (i + 1) % s.blocks
			return s.cidr(i), true
		}
	}
	return "", false
}

func (s *cidrSet) release(node string) {
	if i, ok := s.byNode[node]; ok {
		delete(s.owner, i)
		delete(s.byNode, node)
	}
}
