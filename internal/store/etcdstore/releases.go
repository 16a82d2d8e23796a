package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/apigwio/apigw/internal/release"
)

// maxFallback bounds how many earlier values of a current key are tried
// when its value does not lead to a release that decodes.
const maxFallback = 16

func (s *Store) releasesKey(env string) string { return s.prefix + "releases/" + env + "/" }
func (s *Store) releaseKey(env string, n uint64) string {
	return fmt.Sprintf("%s%020d", s.releasesKey(env), n)
}
func (s *Store) currentKey(env string) string { return s.prefix + "current/" + env }
func (s *Store) seqKey(env string) string     { return s.prefix + "seq/" + env }

// parseNumber reads a current or seq value: a release number in decimal.
func parseNumber(v []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil || n == 0 || len(v) > 20 {
		return 0, fmt.Errorf("value %q is not a release number", clip(string(v)))
	}
	return n, nil
}

// Current reads the current release of every environment. An environment
// whose current value, or the release it names, does not decode keeps its
// previous current release (an earlier value of the key, or the last one
// this Store read), with an error logged.
func (s *Store) Current(ctx context.Context) (*release.Current, error) {
	return s.currentAt(ctx, 0)
}

// currentAt is Current as of revision rev (0: the latest).
func (s *Store) currentAt(ctx context.Context, rev int64) (*release.Current, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.reachable(cctx); err != nil {
		return nil, s.wrap("reading the current releases", err)
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := s.cli.Get(cctx, s.prefix+"current/", opts...)
	if err != nil {
		return nil, s.wrap("reading the current releases", err)
	}
	rev = resp.Header.Revision
	cur := &release.Current{Releases: map[string]*release.Release{}, Revision: rev}
	for _, kv := range resp.Kvs {
		env := strings.TrimPrefix(string(kv.Key), s.prefix+"current/")
		if !envName.MatchString(env) {
			s.log.Error("etcd store: ignoring a key that is not an environment's current release", "key", clip(string(kv.Key)))
			continue
		}
		r, err := s.currentRelease(cctx, env, kv, rev)
		if err != nil {
			if unavailable(err) || errors.Is(err, context.Canceled) {
				return nil, s.wrap("reading the current releases", err)
			}
			s.log.Error("etcd store: ignoring the current release of an environment", "env", env, "key", string(kv.Key), "error", err.Error())
			r = s.fallback(cctx, env, kv)
			if r == nil {
				continue
			}
		}
		cur.Releases[env] = r
	}
	s.mu.Lock()
	for env, r := range cur.Releases {
		if old := s.lastGood[env]; old == nil || old.Number != r.Number {
			s.lastGood[env] = r
		}
	}
	s.mu.Unlock()
	return cur, nil
}

// currentRelease reads the release the current key kv of env names, as of
// revision rev.
func (s *Store) currentRelease(ctx context.Context, env string, kv *mvccpb.KeyValue, rev int64) (*release.Release, error) {
	n, err := parseNumber(kv.Value)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	last := s.lastGood[env]
	s.mu.Unlock()
	if last != nil && last.Number == n {
		return last, nil // release bodies never change
	}
	return s.getAt(ctx, env, n, rev)
}

// fallback finds the release env was current at before kv was written: the
// key's earlier values (as long as etcd has not compacted them), else the
// last current release this Store read. nil when there is none.
func (s *Store) fallback(ctx context.Context, env string, kv *mvccpb.KeyValue) *release.Release {
	mod := kv.ModRevision
	for range maxFallback {
		if mod <= 1 {
			break
		}
		resp, err := s.cli.Get(ctx, string(kv.Key), clientv3.WithRev(mod-1))
		if err != nil || len(resp.Kvs) == 0 {
			break // compacted, unreachable, or the key did not exist before
		}
		prev := resp.Kvs[0]
		if r, err := s.currentRelease(ctx, env, prev, prev.ModRevision); err == nil {
			s.log.Warn("etcd store: keeping the previous current release", "env", env, "release", r.Number)
			return r
		}
		mod = prev.ModRevision
	}
	s.mu.Lock()
	r := s.lastGood[env]
	s.mu.Unlock()
	if r != nil {
		s.log.Warn("etcd store: keeping the last current release read", "env", env, "release", r.Number)
	}
	return r
}

// Get returns release number n of env; an error wrapping ErrNotFound when
// it does not exist (or was trimmed from the history).
func (s *Store) Get(ctx context.Context, env string, n uint64) (*release.Release, error) {
	if !envName.MatchString(env) {
		return nil, fmt.Errorf("invalid environment name %q", clip(env))
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.reachable(cctx); err != nil {
		return nil, s.wrap("reading a release", err)
	}
	r, err := s.getAt(cctx, env, n, 0)
	if err != nil && !errors.Is(err, ErrNotFound) {
		if unavailable(err) || errors.Is(err, context.Canceled) || isEtcd(err) {
			return nil, s.wrap("reading a release", err)
		}
		s.log.Error("etcd store: ignoring a value that is not an apigw release", "key", s.releaseKey(env, n), "error", err.Error())
		return nil, fmt.Errorf("release %s #%d is unreadable in the store: %v", env, n, err)
	}
	return r, err
}

// isEtcd reports whether err came from etcd or the connection to it (not
// from decoding a value).
func isEtcd(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return true
	}
	return unavailable(err)
}

// getAt reads and decodes release n of env as of rev (0: latest).
func (s *Store) getAt(ctx context.Context, env string, n uint64, rev int64) (*release.Release, error) {
	var opts []clientv3.OpOption
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := s.cli.Get(ctx, s.releaseKey(env, n), opts...)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%w: %s #%d", ErrNotFound, env, n)
	}
	return decodeAt(env, n, resp.Kvs[0].Value)
}

// decodeAt decodes the body stored as release n of env, checking that it
// says it is that release.
func decodeAt(env string, n uint64, value []byte) (*release.Release, error) {
	r, err := decodeRelease(value)
	if err != nil {
		return nil, err
	}
	if r.Env != env || r.Number != n {
		return nil, fmt.Errorf("the body is release %s #%d, stored as %s #%d", clip(r.Env), r.Number, env, n)
	}
	return r, nil
}

// List returns the releases of env (every environment when env is ""),
// ordered by environment and number. Values that do not decode are logged
// and left out.
func (s *Store) List(ctx context.Context, env string) ([]*release.Release, error) {
	key := s.prefix + "releases/"
	if env != "" {
		if !envName.MatchString(env) {
			return nil, fmt.Errorf("invalid environment name %q", clip(env))
		}
		key = s.releasesKey(env)
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.reachable(cctx); err != nil {
		return nil, s.wrap("listing releases", err)
	}
	resp, err := s.cli.Get(cctx, key, clientv3.WithPrefix())
	if err != nil {
		return nil, s.wrap("listing releases", err)
	}
	var out []*release.Release
	for _, kv := range resp.Kvs {
		e, n, ok := s.parseReleaseKey(string(kv.Key))
		if !ok {
			s.log.Error("etcd store: ignoring a key that is not a release", "key", clip(string(kv.Key)))
			continue
		}
		r, err := decodeAt(e, n, kv.Value)
		if err != nil {
			s.log.Error("etcd store: ignoring a value that is not an apigw release", "key", string(kv.Key), "error", err.Error())
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Env != out[j].Env {
			return out[i].Env < out[j].Env
		}
		return out[i].Number < out[j].Number
	})
	return out, nil
}

// parseReleaseKey splits P/releases/<env>/<number>.
func (s *Store) parseReleaseKey(key string) (env string, n uint64, ok bool) {
	rest, ok := strings.CutPrefix(key, s.prefix+"releases/")
	if !ok {
		return "", 0, false
	}
	env, num, ok := strings.Cut(rest, "/")
	if !ok || !envName.MatchString(env) || len(num) != 20 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return "", 0, false
	}
	return env, n, true
}

// envState is what Publish reads of an environment before writing.
type envState struct {
	current  uint64 // 0: none
	seq      uint64
	seqMod   int64    // ModRevision of the seq key (0: absent)
	releases []uint64 // numbers kept, ascending
}

// Publish writes rels as the new current releases of their environments in
// one transaction, provided the current release of every environment is
// still expect[env] (0 or absent from expect: none), those published and
// the others alike. Otherwise it returns an error wrapping
// release.ErrConflict that says which environment moved, and writes
// nothing. A current value that is not a release number (corrupted) does
// not count as a move: a publish replaces it. The releases beyond the
// history bound are deleted in the same transaction (never the new current
// ones).
func (s *Store) Publish(ctx context.Context, rels []*release.Release, expect map[string]uint64) ([]*release.Release, error) {
	if len(rels) == 0 {
		return nil, errors.New("nothing to publish")
	}
	envs := map[string]bool{}
	for _, r := range rels {
		switch {
		case r == nil || r.Config == nil:
			return nil, errors.New("a release without configuration cannot be published")
		case !envName.MatchString(r.Env):
			return nil, fmt.Errorf("invalid environment name %q", clip(r.Env))
		case envs[r.Env]:
			return nil, fmt.Errorf("two releases for environment %s in one publish", r.Env)
		}
		envs[r.Env] = true
	}
	for env := range expect {
		if !envName.MatchString(env) {
			return nil, fmt.Errorf("invalid environment name %q", clip(env))
		}
	}
	if 4*len(rels)+len(expect)+1 > maxTxnOps {
		return nil, fmt.Errorf("too many environments in one publish (%d)", len(rels))
	}
	for attempt := 0; ; attempt++ {
		out, retry, err := s.publishOnce(ctx, rels, expect)
		if !retry || attempt == 3 {
			return out, err
		}
	}
}

// moved lists the environments whose current release, as kvs (the keys
// under current/) hold it, is not the one expected.
func (s *Store) moved(kvs []*mvccpb.KeyValue, expect map[string]uint64) []string {
	now := map[string]string{}
	seen := map[string]bool{}
	for _, kv := range kvs {
		env := strings.TrimPrefix(string(kv.Key), s.prefix+"current/")
		if !envName.MatchString(env) {
			continue
		}
		seen[env] = true
		n, err := parseNumber(kv.Value)
		if err != nil {
			continue // corrupted: not a move
		}
		if n != expect[env] {
			now[env] = "#" + strconv.FormatUint(n, 10)
		}
	}
	for env, n := range expect { // expected but gone
		if n != 0 && !seen[env] {
			now[env] = "none"
		}
	}
	out := make([]string, 0, len(now))
	for _, env := range slices.Sorted(maps.Keys(now)) {
		was := "none"
		if n := expect[env]; n != 0 {
			was = "#" + strconv.FormatUint(n, 10)
		}
		out = append(out, fmt.Sprintf("%s was %s, now %s", env, was, now[env]))
	}
	return out
}

// conflict is the error of a publish that lost.
func conflict(moved []string) error {
	if len(moved) == 0 {
		return fmt.Errorf("%w", release.ErrConflict)
	}
	return fmt.Errorf("%w (%s)", release.ErrConflict, strings.Join(moved, "; "))
}

// publishOnce reads the current releases and the state of the environments
// published, and tries the transaction once. retry is true when it failed
// while the current releases are still as expected (a counter or a
// corrupted value moved meanwhile).
func (s *Store) publishOnce(ctx context.Context, rels []*release.Release, expect map[string]uint64) (_ []*release.Release, retry bool, _ error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.reachable(cctx); err != nil {
		return nil, false, s.wrap("publishing", err)
	}
	// Read every current number, and the counters and kept releases of the
	// environments published, at one revision.
	reads := []clientv3.Op{clientv3.OpGet(s.prefix+"current/", clientv3.WithPrefix())}
	for _, r := range rels {
		reads = append(reads,
			clientv3.OpGet(s.seqKey(r.Env)),
			clientv3.OpGet(s.releasesKey(r.Env), clientv3.WithPrefix(), clientv3.WithKeysOnly()))
	}
	rresp, err := s.cli.Txn(cctx).Then(reads...).Commit()
	if err != nil {
		return nil, false, s.wrap("reading before publishing", err)
	}
	read := rresp.Header.Revision
	currents := rresp.Responses[0].GetResponseRange().Kvs
	if m := s.moved(currents, expect); len(m) > 0 {
		return nil, false, conflict(m)
	}
	cur := map[string]uint64{}
	for _, kv := range currents {
		env := strings.TrimPrefix(string(kv.Key), s.prefix+"current/")
		cur[env], _ = parseNumber(kv.Value)
	}
	states := map[string]*envState{}
	for i, r := range rels {
		st := &envState{current: cur[r.Env]}
		if kvs := rresp.Responses[1+2*i].GetResponseRange().Kvs; len(kvs) > 0 {
			st.seqMod = kvs[0].ModRevision
			if st.seq, err = parseNumber(kvs[0].Value); err != nil {
				s.log.Error("etcd store: the release counter of an environment is not a number; numbering after the highest release kept", "env", r.Env, "key", s.seqKey(r.Env))
			}
		}
		for _, kv := range rresp.Responses[2+2*i].GetResponseRange().Kvs {
			if e, n, ok := s.parseReleaseKey(string(kv.Key)); ok && e == r.Env {
				st.releases = append(st.releases, n)
			}
		}
		slices.Sort(st.releases)
		states[r.Env] = st
	}
	// The transaction: nothing under current/ written since the read (which
	// matched expect), no environment expected there deleted since, and
	// every counter unchanged.
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.prefix+"current/"), "<", read+1).WithPrefix()}
	for env, n := range expect {
		if n != 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(s.currentKey(env)), ">", 0))
		}
	}
	now := time.Now().UTC()
	out := make([]*release.Release, 0, len(rels))
	var puts, deletes []clientv3.Op
	for _, r := range rels {
		st := states[r.Env]
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.seqKey(r.Env)), "=", st.seqMod))
		n := max(st.seq, st.current)
		if len(st.releases) > 0 {
			n = max(n, st.releases[len(st.releases)-1])
		}
		n++
		nr := *r
		nr.Number, nr.Created = n, now
		body, err := encodeRelease(&nr)
		if err != nil {
			return nil, false, fmt.Errorf("release %s: %v", r.Env, err)
		}
		num := strconv.FormatUint(n, 10)
		puts = append(puts,
			clientv3.OpPut(s.releaseKey(r.Env, n), string(body)),
			clientv3.OpPut(s.currentKey(r.Env), num),
			clientv3.OpPut(s.seqKey(r.Env), num))
		if excess := len(st.releases) + 1 - s.opts.History; excess > 0 {
			for _, old := range st.releases[:excess] {
				deletes = append(deletes, clientv3.OpDelete(s.releaseKey(r.Env, old)))
			}
		}
		out = append(out, &nr)
	}
	// Stay within etcd's operations per transaction; what is left over is
	// trimmed by the next publish.
	if room := maxTxnOps - len(puts); len(deletes) > room {
		deletes = deletes[:max(room, 0)]
	}
	resp, err := s.cli.Txn(cctx).If(cmps...).Then(append(puts, deletes...)...).Commit()
	if err != nil {
		return nil, false, s.wrap("publishing", err)
	}
	if resp.Succeeded {
		return out, false, nil
	}
	// Lost: say which environment moved.
	g, err := s.cli.Get(cctx, s.prefix+"current/", clientv3.WithPrefix())
	if err != nil {
		return nil, false, conflict(nil)
	}
	if m := s.moved(g.Kvs, expect); len(m) > 0 {
		return nil, false, conflict(m)
	}
	return nil, true, conflict(nil)
}
