package testdaemon

import (
	"io"
	"net"
	"sync"
)

// Proxy forwards loopback TCP connections to a daemon, so a test can break
// every connection open through it (Break) while the daemon keeps running:
// the client sees its streams end with UNAVAILABLE and connects again.
type Proxy struct {
	Address string
	target  string
	l       net.Listener
	mu      sync.Mutex
	conns   map[net.Conn]bool
	breaks  int
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Address: l.Addr().String(), target: target, l: l, conns: map[net.Conn]bool{}}
	go p.serve()
	return p, nil
}

func (p *Proxy) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return // closed
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = true, true
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *Proxy) pipe(from, to net.Conn) {
	io.Copy(to, from)
	from.Close()
	to.Close()
	p.mu.Lock()
	delete(p.conns, from)
	delete(p.conns, to)
	p.mu.Unlock()
}

// Break closes every connection open now (new ones are accepted) and
// returns how many there were.
func (p *Proxy) Break() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for c := range p.conns {
		c.Close()
	}
	p.breaks++
	return n / 2
}

// Close stops listening and breaks every connection.
func (p *Proxy) Close() {
	p.l.Close()
	p.Break()
}
