//go:build linux

package testserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/idsync/idsync/internal/gendir"
)

// ErrSambaMissing is wrapped by StartSambaAD's error when a program the DC
// needs (samba, samba-tool, ip) is not installed.
var ErrSambaMissing = errors.New("samba is not installed")

// StartSambaAD provisions and starts a Samba AD DC of its own for a program
// that is not a test (the benchmarks), with an OU named ou as BaseDN. ctx
// bounds the start only. stop stops the DC and removes its files.
func StartSambaAD(ctx context.Context, ou string) (_ *SambaServer, stop func(), err error) {
	dc, err := startSambaDC(ctx)
	var missing *missingError
	if errors.As(err, &missing) {
		return nil, nil, fmt.Errorf("%w: %v", ErrSambaMissing, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("starting Samba AD: %w", err)
	}
	s := &SambaServer{DomainDN: SambaDomainDN, Endpoint: dc.endpoint, LDAPSURL: dc.ldapsURL(), CAFile: dc.caFile()}
	s.BaseDN = "OU=" + ou + "," + SambaDomainDN
	err = s.Add(ctx, gendir.Entry{DN: s.BaseDN, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "organizationalUnit"}},
		{Name: "ou", Values: []string{ou}},
	}})
	if err != nil {
		dc.stop()
		return nil, nil, err
	}
	return s, dc.stop, nil
}
