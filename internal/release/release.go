// Package release holds what one environment serves as an immutable,
// numbered release, and composes the gateway a replica serves from the
// current release of every environment.
//
// A release of environment E is the configuration as published, restricted
// to E (Restrict): the APIs published in E (each with environments [E]), the
// groups that hold them, and everything they reference (apps with their
// grants for E, IAM users, key pairs, policies with their bindings for E,
// channels, authorizers, signature keys, gateway responses). It is
// validated whole before it is written and never changes afterwards; a
// rollback writes a new release with the content of an earlier one.
//
// A replica serves Compose(local, current): server, listener and settings
// from its own configuration file, and from each environment's current
// release the APIs of that environment. Objects several releases share
// (a group's own fields, an app's credentials, a policy) must be the same
// in all of them, or the composition is refused with every difference
// listed; publishing checks this first, so a replica never sees it.
package release

import (
	"context"
	"errors"
	"time"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Release is one immutable, numbered snapshot of what an environment serves.
type Release struct {
	// Env is the environment the release is for.
	Env string `json:"env"`
	// Number counts the environment's releases from 1; it never repeats.
	Number uint64 `json:"number"`
	// Created is when the release was written.
	Created time.Time `json:"created"`
	// Note is the publisher's note.
	Note string `json:"note,omitempty"`
	// Publisher names who published it (user@host by default).
	Publisher string `json:"publisher,omitempty"`
	// SourceDigest is the SHA-256 (hex) of the source file(s) published.
	SourceDigest string `json:"source_digest"`
	// RollbackOf is the release whose content this one restores (0: none).
	RollbackOf uint64 `json:"rollback_of,omitempty"`
	// Config is the configuration restricted to Env (see Restrict).
	Config *configv1.Gateway `json:"-"`
}

// Current is the current release of every environment that has one, as of a
// store revision.
type Current struct {
	// Releases maps an environment to its current release.
	Releases map[string]*Release
	// Revision is the store's revision the view was read at (0: no store).
	Revision int64
}

// Numbers maps each environment of c to the number of its current release
// (what a publish expects to find unchanged, see Store.Publish).
func (c *Current) Numbers() map[string]uint64 {
	n := make(map[string]uint64, len(c.Releases))
	for env, r := range c.Releases {
		n[env] = r.Number
	}
	return n
}

// ErrConflict is returned when a publish or rollback lost a race: the
// environment's current release changed since the publisher read it.
var ErrConflict = errors.New("conflict: the environment's current release changed while publishing; nothing was written")

// ErrUnavailable wraps errors that mean the store cannot be reached.
var ErrUnavailable = errors.New("release store unavailable")

// Store keeps the releases of every environment.
type Store interface {
	// Current reads the current release of every environment.
	Current(ctx context.Context) (*Current, error)
	// List returns the releases of env (every environment when env is ""),
	// oldest first, as far as the bounded history keeps them.
	List(ctx context.Context, env string) ([]*Release, error)
	// Get returns release number n of env.
	Get(ctx context.Context, env string, n uint64) (*Release, error)
	// Publish writes rels (one per environment) as the new current releases
	// in one transaction, provided each environment's current release
	// number is still expect[env] (0: none yet); otherwise it returns
	// ErrConflict and writes nothing. Numbers and Created are assigned by
	// the store and set in the returned releases.
	Publish(ctx context.Context, rels []*Release, expect map[string]uint64) ([]*Release, error)
	// Watch calls fn with the new Current each time an environment's
	// current release changes after revision after, until ctx ends. Values
	// that do not decode are logged and ignored.
	Watch(ctx context.Context, after int64, fn func(*Current)) error
	// Report writes what this replica serves under a lease, so that a
	// replica that stops reporting disappears from Replicas after the
	// lease's TTL. Calling it again updates the entry.
	Report(ctx context.Context, st ReplicaStatus) error
	// Replicas lists the replicas that reported within their lease.
	Replicas(ctx context.Context) ([]ReplicaStatus, error)
	// Close releases the store's connections (and revokes the lease).
	Close() error
}

// ReplicaStatus is what a serving replica reports about itself.
type ReplicaStatus struct {
	// ID names the replica (hostname and admin address by default).
	ID string `json:"id"`
	// Serving maps an environment to the release number it serves.
	Serving map[string]uint64 `json:"serving"`
	// Updated is when the replica last reported.
	Updated time.Time `json:"updated"`
	// LastError is the replica's last refusal of a release ("" if none).
	LastError string `json:"last_error,omitempty"`
}
