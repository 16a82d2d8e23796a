package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/apigwio/apigw/internal/release"
)

// maxReplicaID bounds a replica's ID.
const maxReplicaID = 256

func (s *Store) replicaKey(id string) string { return s.prefix + "replicas/" + url.PathEscape(id) }

// Report writes st under P/replicas/<id> with the store's lease, granting
// the lease on the first call and keeping it alive until Close. When the
// lease is lost (etcd unreachable for longer than its TTL), the store
// grants a new one and writes the last status again as soon as etcd
// answers, without waiting for the next Report. Updated is set to now.
func (s *Store) Report(ctx context.Context, st release.ReplicaStatus) error {
	if st.ID == "" || len(st.ID) > maxReplicaID {
		return fmt.Errorf("a replica ID must have 1 to %d bytes", maxReplicaID)
	}
	if s.ctx.Err() != nil {
		return errors.New("store closed")
	}
	st.Updated = time.Now().UTC()
	s.mu.Lock()
	cp := st
	s.status = &cp
	s.mu.Unlock()
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.reachable(cctx); err != nil {
		s.startRetry()
		return s.wrap("reporting the replica's status", err)
	}
	err := s.putStatus(cctx, &cp)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.dropLease()
		err = s.putStatus(cctx, &cp)
	}
	if err != nil && unavailable(err) {
		s.startRetry()
	}
	return s.wrap("reporting the replica's status", err)
}

// putStatus writes st with the lease, granting one if there is none.
func (s *Store) putStatus(ctx context.Context, st *release.ReplicaStatus) error {
	lease, err := s.ensureLease(ctx)
	if err != nil {
		return err
	}
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = s.cli.Put(ctx, s.replicaKey(st.ID), string(body), clientv3.WithLease(lease))
	return err
}

// ensureLease returns the store's lease, granting it and starting its
// keep-alive when there is none.
func (s *Store) ensureLease(ctx context.Context) (clientv3.LeaseID, error) {
	s.mu.Lock()
	lease := s.lease
	s.mu.Unlock()
	if lease != 0 {
		return lease, nil
	}
	ttl := int64((s.opts.LeaseTTL + time.Second - 1) / time.Second)
	g, err := s.cli.Grant(ctx, ttl)
	if err != nil {
		return 0, err
	}
	ka, err := s.cli.KeepAlive(s.ctx, g.ID)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	if s.lease != 0 || s.closed { // another Report granted one meanwhile, or Close ran
		lease = s.lease
		closed := s.closed
		s.mu.Unlock()
		s.revoke(g.ID)
		if closed {
			return 0, errors.New("store closed")
		}
		return lease, nil
	}
	s.lease = g.ID
	s.wg.Add(1)
	s.mu.Unlock()
	go s.keepAlive(g.ID, ka)
	return g.ID, nil
}

// revoke drops an unused lease.
func (s *Store) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	_, _ = s.cli.Revoke(ctx, id)
}

// dropLease forgets the store's lease (expired).
func (s *Store) dropLease() {
	s.mu.Lock()
	s.lease = 0
	s.mu.Unlock()
}

// keepAlive drains the lease's keep-alive answers. When they stop before
// Close (the lease expired), it has the last status reported again under a
// new lease.
func (s *Store) keepAlive(id clientv3.LeaseID, ka <-chan *clientv3.LeaseKeepAliveResponse) {
	defer s.wg.Done()
	for range ka { //nolint:revive // only the channel's end matters
	}
	if s.ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	if s.lease == id {
		s.lease = 0
	}
	s.mu.Unlock()
	s.log.Warn("etcd store: the replica's lease was lost; reporting again", "lease", int64(id))
	s.startRetry()
}

// startRetry starts writing the last status again in the background, unless
// that already runs or the store is closed.
func (s *Store) startRetry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retrying || s.closed || s.status == nil {
		return
	}
	s.retrying = true
	s.wg.Add(1)
	go s.retryReport()
}

// retryReport writes the last status reported, with backoff, until it
// succeeds or the store is closed: a replica that reported while etcd was
// unreachable, or whose lease expired meanwhile, reappears in Replicas as
// soon as etcd answers again.
func (s *Store) retryReport() {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.retrying = false
		s.mu.Unlock()
	}()
	wait := watchBackoffMin
	for s.ctx.Err() == nil {
		sleep(s.ctx, wait)
		wait = min(2*wait, watchBackoffMax)
		ctx, cancel := s.call(s.ctx)
		s.mu.Lock()
		st := *s.status
		s.mu.Unlock()
		err := s.reachable(ctx)
		if err == nil {
			err = s.putStatus(ctx, &st)
		}
		cancel()
		if err == nil {
			return // the lease has its own keep-alive goroutine
		}
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			s.dropLease()
		}
	}
}

// Replicas lists the replicas whose lease is alive, by ID. Entries that do
// not decode are logged and left out.
func (s *Store) Replicas(ctx context.Context) ([]release.ReplicaStatus, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.reachable(cctx); err != nil {
		return nil, s.wrap("listing replicas", err)
	}
	resp, err := s.cli.Get(cctx, s.prefix+"replicas/", clientv3.WithPrefix())
	if err != nil {
		return nil, s.wrap("listing replicas", err)
	}
	var out []release.ReplicaStatus
	for _, kv := range resp.Kvs {
		var st release.ReplicaStatus
		dec := json.NewDecoder(strings.NewReader(string(kv.Value)))
		if err := dec.Decode(&st); err != nil || st.ID == "" {
			s.log.Error("etcd store: ignoring a value that is not a replica's status", "key", clip(string(kv.Key)))
			continue
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
