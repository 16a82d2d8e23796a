package release

import (
	"bytes"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// secretMessage is the full name of configv1.Secret: a field of this type
// is named, never looked into, so that no difference shows where a secret
// comes from, let alone its value.
var secretMessage = (&configv1.Secret{}).ProtoReflect().Descriptor().FullName()

// changedFields lists the fields (dotted paths, as written in the
// configuration) in which a and b, messages of one type, differ:
// singular message fields are looked into, except secrets; lists, maps
// and scalars are named as a whole. nil when they are equal.
func changedFields(a, b proto.Message) []string {
	if a == nil || b == nil {
		return nil
	}
	ma, mb := a.ProtoReflect(), b.ProtoReflect()
	if ma.Descriptor().FullName() != mb.Descriptor().FullName() || proto.Equal(a, b) {
		return nil
	}
	var out []string
	diffFields("", ma, mb, &out)
	return out
}

func diffFields(prefix string, a, b protoreflect.Message, out *[]string) {
	fields := a.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := prefix + string(fd.Name())
		if fd.Kind() == protoreflect.MessageKind && fd.Cardinality() != protoreflect.Repeated && fd.Message().FullName() != secretMessage {
			if !a.Has(fd) && !b.Has(fd) {
				continue
			}
			va, vb := a.Get(fd).Message(), b.Get(fd).Message()
			if !proto.Equal(va.Interface(), vb.Interface()) {
				n := len(*out)
				diffFields(name+".", va, vb, out)
				if len(*out) == n {
					*out = append(*out, name) // set against unset, nothing inside
				}
			}
			continue
		}
		if !fieldEqual(fd, a, b) {
			*out = append(*out, name)
		}
	}
}

// fieldEqual reports whether a and b agree on field fd (presence
// included).
func fieldEqual(fd protoreflect.FieldDescriptor, a, b protoreflect.Message) bool {
	ha, hb := a.Has(fd), b.Has(fd)
	switch {
	case ha != hb:
		return false
	case !ha:
		return true
	case fd.IsMap():
		ca, cb := a.Type().New(), b.Type().New()
		ca.Set(fd, a.Get(fd))
		cb.Set(fd, b.Get(fd))
		return proto.Equal(ca.Interface(), cb.Interface())
	case fd.IsList():
		la, lb := a.Get(fd).List(), b.Get(fd).List()
		if la.Len() != lb.Len() {
			return false
		}
		for i := range la.Len() {
			if !valueEqual(fd, la.Get(i), lb.Get(i)) {
				return false
			}
		}
		return true
	}
	return valueEqual(fd, a.Get(fd), b.Get(fd))
}

// valueEqual compares two values of field fd (one element of a list).
func valueEqual(fd protoreflect.FieldDescriptor, x, y protoreflect.Value) bool {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return proto.Equal(x.Message().Interface(), y.Message().Interface())
	case protoreflect.BytesKind:
		return bytes.Equal(x.Bytes(), y.Bytes())
	}
	return x.Interface() == y.Interface()
}
