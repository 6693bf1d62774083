package fakeaws

import (
	"encoding/xml"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/aws/smithy-go/encoding/cbor"
)

// The encoders below turn an aws-sdk-go-v2 output struct into one protocol's
// wire form by reflection, so the Server answers with exactly what a backend
// returned, shape by shape, without a hand-written serializer per operation.
// Member names on the wire are the SDK's field names with the first letter
// lowered (AWS JSON 1.1: ECS, CodeDeploy, CodePipeline) or unchanged (CBOR
// for CloudWatch, whose members are PascalCase; Query XML for ELBv2).
// Unexported fields (noSmithyDocumentSerde), nil pointers, empty strings and
// nil slices are left out, as the services leave out absent members.

// wireName names a struct field on the wire.
type wireName func(field string) string

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

func asIs(s string) string { return s }

var timeType = reflect.TypeOf(time.Time{})

// jsonValue converts v for encoding/json: structs become maps keyed by
// name(field), timestamps epoch seconds (the JSON 1.1 default timestamp
// format).
func jsonValue(v reflect.Value, name wireName) (any, bool) {
	switch v.Kind() {
	case reflect.Invalid:
		return nil, false
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, false
		}
		return jsonValue(v.Elem(), name)
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			return float64(t.UnixMilli()) / 1000, true
		}
		m := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Name == "ResultMetadata" {
				continue
			}
			if fv, ok := jsonValue(v.Field(i), name); ok {
				m[name(f.Name)] = fv
			}
		}
		return m, true
	case reflect.Slice:
		if v.IsNil() {
			return nil, false
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Bytes(), true
		}
		out := make([]any, 0, v.Len())
		for i := range v.Len() {
			ev, _ := jsonValue(v.Index(i), name)
			out = append(out, ev)
		}
		return out, true
	case reflect.Map:
		if v.IsNil() {
			return nil, false
		}
		out := map[string]any{}
		iter := v.MapRange()
		for iter.Next() {
			ev, _ := jsonValue(iter.Value(), name)
			out[fmt.Sprint(iter.Key().Interface())] = ev
		}
		return out, true
	case reflect.String:
		if v.String() == "" {
			return nil, false
		}
		return v.String(), true
	default:
		return v.Interface(), true
	}
}

// cborValue converts v to the smithy RPC v2 CBOR data model: timestamps are
// tag 1 (epoch seconds) per
// https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html.
func cborValue(v reflect.Value) (cbor.Value, bool) {
	switch v.Kind() {
	case reflect.Invalid:
		return nil, false
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, false
		}
		return cborValue(v.Elem())
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.UnixMilli()) / 1000)}, true
		}
		m := cbor.Map{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Name == "ResultMetadata" {
				continue
			}
			if fv, ok := cborValue(v.Field(i)); ok {
				m[f.Name] = fv
			}
		}
		return m, true
	case reflect.Slice:
		if v.IsNil() {
			return nil, false
		}
		out := cbor.List{}
		for i := range v.Len() {
			ev, _ := cborValue(v.Index(i))
			out = append(out, ev)
		}
		return out, true
	case reflect.String:
		if v.String() == "" {
			return nil, false
		}
		return cbor.String(v.String()), true
	case reflect.Bool:
		return cbor.Bool(v.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n := v.Int(); n < 0 {
			return cbor.NegInt(uint64(-n)), true
		}
		return cbor.Uint(uint64(v.Int())), true
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) {
			return nil, false
		}
		return cbor.Float64(f), true
	}
	return nil, false
}

// writeXML writes v as AWS Query XML: elements named by field, lists as
// <member> items, timestamps in ISO 8601.
func writeXML(b *strings.Builder, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			writeXML(b, v.Elem())
		}
	case reflect.Struct:
		if v.Type() == timeType {
			b.WriteString(v.Interface().(time.Time).UTC().Format("2006-01-02T15:04:05.000Z"))
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			fv := v.Field(i)
			if !f.IsExported() || f.Name == "ResultMetadata" || !present(fv) {
				continue
			}
			fmt.Fprintf(b, "<%s>", f.Name)
			writeXML(b, fv)
			fmt.Fprintf(b, "</%s>", f.Name)
		}
	case reflect.Slice:
		for i := range v.Len() {
			b.WriteString("<member>")
			writeXML(b, v.Index(i))
			b.WriteString("</member>")
		}
	case reflect.String:
		_ = xml.EscapeText(b, []byte(v.String()))
	default:
		fmt.Fprint(b, v.Interface())
	}
}

func present(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		return !v.IsNil()
	case reflect.String:
		return v.String() != ""
	}
	return true
}
