package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// adminProber times the admin answers during each change from a child
// process of this command (reloadbench -probe-child URL), so that what
// it sees is the server and the machine, as an operator's client would:
// not this process's delta client, which decodes each route
// configuration (105 MB at 100,000 APIs) just when a change lands.
//
// The protocol on the child's stdin and stdout is a line each way:
// "start" begins probing (probeAdmin); "stop" ends it and the child
// answers with the probe as one JSON line.
type adminProber struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startProber starts the child for the admin port at url.
func startProber(url string) (*adminProber, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-probe-child", url)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &adminProber{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

// start makes the child begin probing.
func (p *adminProber) start() error {
	_, err := io.WriteString(p.in, "start\n")
	return err
}

// stop makes the child stop probing and returns what it saw.
func (p *adminProber) stop() (probe, error) {
	var seen probe
	if _, err := io.WriteString(p.in, "stop\n"); err != nil {
		return seen, err
	}
	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return seen, fmt.Errorf("admin prober: %w", err)
	}
	return seen, json.Unmarshal(line, &seen)
}

// close ends the child (its stdin closed) and waits for it.
func (p *adminProber) close() {
	_ = p.in.Close()
	_ = p.cmd.Wait()
}

// runProbeChild is the child's side: probeAdmin between each "start"
// and "stop" line of stdin, the probe written to stdout after each stop;
// it returns when stdin closes.
func runProbeChild(url string) {
	lines := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	var current *probing
	for lines.Scan() {
		switch strings.TrimSpace(lines.Text()) {
		case "start":
			if current != nil {
				fail(fmt.Errorf("admin prober: start while probing"))
			}
			current = startProbing(url)
		case "stop":
			if current == nil {
				fail(fmt.Errorf("admin prober: stop without start"))
			}
			seen := current.stop()
			current = nil
			if err := enc.Encode(seen); err != nil {
				fail(err)
			}
		}
	}
	if current != nil {
		current.stop()
	}
}

// probing is a probeAdmin running in a goroutine.
type probing struct {
	cancel context.CancelFunc
	done   chan probe
}

// startProbing starts probeAdmin on url.
func startProbing(url string) *probing {
	ctx, cancel := context.WithCancel(context.Background())
	p := &probing{cancel: cancel, done: make(chan probe, 1)}
	go func() { p.done <- probeAdmin(ctx, url) }()
	return p
}

// stop ends the probing and returns what it saw.
func (p *probing) stop() probe {
	p.cancel()
	return <-p.done
}
