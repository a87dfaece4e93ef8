//go:build !linux

package capture

import "golang.org/x/net/bpf"

// Live capture uses AF_PACKET sockets, which only Linux has. Elsewhere
// OpenLive says so; flowcap still reads capture files.

// Live is an open live capture (never, on this system).
type Live struct{}

// OpenLive returns ErrNoLiveCapture.
func OpenLive(cfg LiveConfig) (*Live, error) {
	return nil, ErrNoLiveCapture
}

func (l *Live) Interface() string                         { return "" }
func (l *Live) LinkType() LinkType                        { return LinkEthernet }
func (l *Live) Sockets() []*LiveSocket                    { return nil }
func (l *Live) SetFilter(prog []bpf.RawInstruction) error { return ErrNoLiveCapture }
func (l *Live) Stats() (LiveStats, error)                 { return LiveStats{}, ErrNoLiveCapture }
func (l *Live) Close() error                              { return nil }

// LiveSocket is one socket of a live capture (never, on this system).
type LiveSocket struct{}

func (s *LiveSocket) Next() ([]byte, Info, error) { return nil, Info{}, ErrNoLiveCapture }
func (s *LiveSocket) Name() string                { return "" }
func (s *LiveSocket) Close() error                { return nil }
func (s *LiveSocket) Stop() error                 { return ErrNoLiveCapture }
