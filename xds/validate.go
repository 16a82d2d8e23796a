package xds

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// validator is implemented by every generated Envoy message (protoc-gen-validate).
type validator interface{ ValidateAll() error }

// Validate checks every resource the way Envoy's own proto validation would,
// without an Envoy binary: ValidateAll on each resource and on every message
// packed in an Any anywhere inside it (typed_config, typed_per_filter_config,
// ...), recursively, since ValidateAll does not look inside an Any. It also
// rejects duplicate resource names. The error names the resource and field;
// with several defects, it is always the first in resource order.
//
// The work is spread over the CPUs: each resource is a task, and so is each
// virtual host of a route configuration (the largest resource by far).
func (r *Resources) Validate() error {
	var tasks []validateTask
	for _, g := range r.groups() {
		names := map[string]bool{}
		for _, m := range g.list {
			name := cachev3.GetResourceName(m)
			if names[name] {
				return fmt.Errorf("xds: invalid resource: %s %q is defined twice", g.kind, name)
			}
			names[name] = true
			tasks = append(tasks, splitTasks(g.kind+"["+name+"]", m)...)
		}
	}
	errs := make([]error, len(tasks))
	workers := min(runtime.GOMAXPROCS(0), len(tasks))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &anyWalker{seen: map[*anypb.Any]bool{}}
			for {
				i := int(next.Add(1)) - 1
				if i >= len(tasks) {
					return
				}
				errs[i] = w.check(tasks[i].path, tasks[i].msg)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("xds: invalid resource: %w", err)
		}
	}
	return nil
}

// validateTask is one message to check, located by path.
type validateTask struct {
	path string
	msg  proto.Message
}

// splitTasks makes one task of a resource, except a route configuration:
// one task for its own fields and one per virtual host. Per-field
// validation rules do not span virtual hosts, so this checks exactly what
// ValidateAll on the whole would.
func splitTasks(path string, m proto.Message) []validateTask {
	rc, ok := m.(*routev3.RouteConfiguration)
	if !ok || len(rc.GetVirtualHosts()) < 2 {
		return []validateTask{{path, m}}
	}
	// A shallow copy without the virtual hosts (fields are shared, not
	// copied, and only read).
	src := rc.ProtoReflect()
	top := src.Type().New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Name() != "virtual_hosts" {
			top.Set(fd, v)
		}
		return true
	})
	tasks := []validateTask{{path, top.Interface()}}
	for i, vh := range rc.GetVirtualHosts() {
		tasks = append(tasks, validateTask{path + ".virtual_hosts[" + strconv.Itoa(i) + "]", vh})
	}
	return tasks
}

type resourceGroup struct {
	kind    string
	typeURL string
	list    []proto.Message
}

func (r *Resources) groups() []resourceGroup {
	g := []resourceGroup{
		{kind: "listener", typeURL: resourcev3.ListenerType},
		{kind: "route_configuration", typeURL: resourcev3.RouteType},
		{kind: "cluster", typeURL: resourcev3.ClusterType},
		{kind: "cluster_load_assignment", typeURL: resourcev3.EndpointType},
	}
	for _, m := range r.Listeners {
		g[0].list = append(g[0].list, m)
	}
	for _, m := range r.Routes {
		g[1].list = append(g[1].list, m)
	}
	for _, m := range r.Clusters {
		g[2].list = append(g[2].list, m)
	}
	for _, m := range r.Endpoints {
		g[3].list = append(g[3].list, m)
	}
	return g
}

// Snapshot returns the resources as a go-control-plane snapshot with the
// given version, after checking that it is consistent (every EDS and RDS
// name referenced exists, and nothing else of those types).
func (r *Resources) Snapshot(version string) (*cachev3.Snapshot, error) {
	res := map[resourcev3.Type][]types.Resource{}
	for _, g := range r.groups() {
		list := make([]types.Resource, len(g.list))
		for i, m := range g.list {
			list[i] = m
		}
		res[g.typeURL] = list
	}
	s, err := cachev3.NewSnapshot(version, res)
	if err != nil {
		return nil, fmt.Errorf("xds: %w", err)
	}
	if err := s.Consistent(); err != nil {
		return nil, fmt.Errorf("xds: inconsistent snapshot: %w", err)
	}
	return s, nil
}

func validateOne(m proto.Message) error {
	if v, ok := m.(validator); ok {
		return v.ValidateAll()
	}
	return nil
}

// anyWalker finds, unpacks and validates every Any in a message tree.
type anyWalker struct {
	// seen holds Anys already checked: the translator shares one packed
	// per-route configuration between routes.
	seen map[*anypb.Any]bool
	// path is the stack of fields from the resource to the current message,
	// rendered only for an error (building strings for every element of a
	// large configuration would cost more than the walk).
	path []pathSeg
}

type pathSeg struct {
	name  string // field name, or "<type>" on entering an Any
	index int    // list index, or -1
	key   string // map key, if any
}

var anyName = (&anypb.Any{}).ProtoReflect().Descriptor().FullName()

func (w *anyWalker) where() string {
	var b strings.Builder
	for i, p := range w.path {
		if i > 0 && !strings.HasPrefix(p.name, "<") {
			b.WriteByte('.')
		}
		b.WriteString(p.name)
		if p.index >= 0 {
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		}
		if p.key != "" {
			b.WriteString("[" + p.key + "]")
		}
	}
	return b.String()
}

func (w *anyWalker) push(name string, index int, key string) {
	w.path = append(w.path, pathSeg{name, index, key})
}

func (w *anyWalker) pop() { w.path = w.path[:len(w.path)-1] }

// typedPerFilterConfig is implemented by routes, virtual hosts and route
// configurations: their per-filter Anys are read from the Go map directly,
// since ranging a map by reflection dominates the walk of a large
// configuration.
type typedPerFilterConfig interface {
	GetTypedPerFilterConfig() map[string]*anypb.Any
}

const typedPerFilterConfigField = "typed_per_filter_config"

// walk visits the fields of m that can hold an Any.
func (w *anyWalker) walk(m protoreflect.Message) error {
	var err error
	fast, _ := m.Interface().(typedPerFilterConfig)
	if fast != nil {
		for k, a := range fast.GetTypedPerFilterConfig() {
			w.push(typedPerFilterConfigField, -1, k)
			err = w.value(a.ProtoReflect())
			w.pop()
			if err != nil {
				return err
			}
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fast != nil && fd.Name() == typedPerFilterConfigField {
			return true
		}
		elem := fd
		if fd.IsMap() {
			elem = fd.MapValue()
		}
		md := elem.Message()
		if md == nil || !mayHoldAny(md) {
			return true
		}
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				w.push(name, i, "")
				err = w.value(l.Get(i).Message())
				w.pop()
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				w.push(name, -1, k.String())
				err = w.value(mv.Message())
				w.pop()
				return err == nil
			})
		default:
			w.push(name, -1, "")
			err = w.value(v.Message())
			w.pop()
		}
		return err == nil
	})
	return err
}

// value validates m if it is an Any, then walks into it.
func (w *anyWalker) value(m protoreflect.Message) error {
	if m.Descriptor().FullName() != anyName {
		return w.walk(m)
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return fmt.Errorf("%s: unexpected Any implementation %T", w.where(), m.Interface())
	}
	if w.seen[a] {
		return nil
	}
	w.seen[a] = true
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
	if err != nil {
		return fmt.Errorf("%s: cannot unpack %s: %w", w.where(), a.GetTypeUrl(), err)
	}
	if err := validateOne(inner); err != nil {
		return fmt.Errorf("%s (%s): %w", w.where(), strings.TrimPrefix(a.GetTypeUrl(), "type.googleapis.com/"), err)
	}
	w.push("<"+string(inner.ProtoReflect().Descriptor().FullName())+">", -1, "")
	defer w.pop()
	return w.walk(inner.ProtoReflect())
}

// check validates one resource and every Any inside it.
func (w *anyWalker) check(name string, m proto.Message) error {
	w.path = append(w.path[:0], pathSeg{name: name, index: -1})
	if err := validateOne(m); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return w.walk(m.ProtoReflect())
}

// anyReach caches, per message type, whether an Any can occur anywhere
// below it, so that the walk skips the bulk of a large configuration
// (matchers, addresses, durations).
var anyReach sync.Map // protoreflect.MessageDescriptor -> bool

func mayHoldAny(md protoreflect.MessageDescriptor) bool {
	if v, ok := anyReach.Load(md); ok {
		return v.(bool)
	}
	r := reachAny(md, map[protoreflect.FullName]bool{})
	anyReach.Store(md, r)
	return r
}

func reachAny(md protoreflect.MessageDescriptor, visiting map[protoreflect.FullName]bool) bool {
	if md.FullName() == anyName {
		return true
	}
	if visiting[md.FullName()] {
		return false // a cycle adds nothing new
	}
	visiting[md.FullName()] = true
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if fd.Message() != nil && reachAny(fd.Message(), visiting) {
			return true
		}
	}
	return false
}
