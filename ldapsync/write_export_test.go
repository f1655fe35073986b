package ldapsync

import (
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"
)

// CountWrites makes c count the write operations it sends (Add, Modify,
// ModifyDN, Del, Password Modify) from now on, so that a test can tell
// that a write sent nothing; a real server may not show a modify that
// rewrote the same values.
func CountWrites(c *Conn) *atomic.Int64 {
	n := new(atomic.Int64)
	c.ldap = &countingSearcher{searcher: c.ldap, n: n}
	return n
}

// countingSearcher counts the writes that go through it.
type countingSearcher struct {
	searcher
	n *atomic.Int64
}

func (s *countingSearcher) Add(req *ldap.AddRequest) error {
	s.n.Add(1)
	return s.searcher.Add(req)
}

func (s *countingSearcher) Modify(req *ldap.ModifyRequest) error {
	s.n.Add(1)
	return s.searcher.Modify(req)
}

func (s *countingSearcher) ModifyDN(req *ldap.ModifyDNRequest) error {
	s.n.Add(1)
	return s.searcher.ModifyDN(req)
}

func (s *countingSearcher) Del(req *ldap.DelRequest) error {
	s.n.Add(1)
	return s.searcher.Del(req)
}

func (s *countingSearcher) PasswordModify(req *ldap.PasswordModifyRequest) (*ldap.PasswordModifyResult, error) {
	s.n.Add(1)
	return s.searcher.PasswordModify(req)
}
