package etcdstore

import (
	"context"
	"fmt"

	"google.golang.org/grpc/connectivity"

	"github.com/apigwio/apigw/internal/release"
)

// WatchAvailability calls fn with nil each time the connection to etcd is
// ready again, and with an error wrapping release.ErrUnavailable each time
// every member became unreachable (the connection in transient failure),
// until ctx ends or the store is closed. It follows the gRPC connection's
// state changes: nothing is polled.
func (s *Store) WatchAvailability(ctx context.Context, fn func(err error)) {
	conn := s.cli.ActiveConnection()
	up := true // Open's caller has just read the store
	for {
		st := conn.GetState()
		switch st {
		case connectivity.Ready:
			if !up {
				up = true
				fn(nil)
			}
		case connectivity.TransientFailure:
			if up {
				up = false
				fn(fmt.Errorf("%w: no etcd member of %s can be reached", release.ErrUnavailable, s.endpoints))
			}
		case connectivity.Shutdown:
			return
		}
		if !conn.WaitForStateChange(ctx, st) {
			return
		}
	}
}
