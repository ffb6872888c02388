package sdk

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
)

// toStruct converts a JSON-like map to a protobuf Struct. Maps of the types structpb knows
// (string, bool, numbers, nil, []any, map[string]any) convert directly; anything else that
// encoding/json can encode ([]string, structs, json.Number, json.RawMessage…) goes through
// JSON.
func toStruct(field string, m map[string]any) (*structpb.Struct, error) {
	if m == nil {
		return nil, nil
	}
	if s, err := structpb.NewStruct(m); err == nil {
		// JSON has no NaN or infinities; the server would reject the whole request.
		if path := nonFinite(field, structpb.NewStructValue(s)); path != "" {
			return nil, &Error{Code: CodeInvalidArgument, Field: path, Message: path + ": NaN and infinite numbers are not valid JSON"}
		}
		return s, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, &Error{Code: CodeInvalidArgument, Field: field, Message: fmt.Sprintf("%s: cannot be encoded as JSON: %v", field, err)}
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, &Error{Code: CodeInvalidArgument, Field: field, Message: fmt.Sprintf("%s: %v", field, err)}
	}
	return s, nil
}

// nonFinite returns the path of the first NaN or infinite number in v, or "".
func nonFinite(path string, v *structpb.Value) string {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			return path
		}
	case *structpb.Value_StructValue:
		for key, fv := range k.StructValue.GetFields() {
			if p := nonFinite(path+"."+key, fv); p != "" {
				return p
			}
		}
	case *structpb.Value_ListValue:
		for i, lv := range k.ListValue.GetValues() {
			if p := nonFinite(path+"["+strconv.Itoa(i)+"]", lv); p != "" {
				return p
			}
		}
	}
	return ""
}

// fromStruct converts a protobuf Struct to a map; JSON numbers become float64. nil stays nil.
func fromStruct(s *structpb.Struct) map[string]any {
	if s == nil {
		return nil
	}
	return s.AsMap()
}

func fromTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func fromTimePtr(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	return &t
}

func fromRecord(r *osav1.Record) *Record {
	if r == nil {
		return nil
	}
	return &Record{
		SRN:       r.Srn,
		Version:   int(r.Version),
		Metadata:  fromStruct(r.Metadata),
		Source:    r.Source,
		SourceID:  r.SourceId,
		CreatedAt: fromTime(r.CreatedAt),
		UpdatedAt: fromTime(r.UpdatedAt),
		DeletedAt: fromTimePtr(r.DeletedAt),
		pb:        r,
	}
}
