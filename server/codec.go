package server

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// strictJSON is Connect's JSON codec, except that a field the API does not have is an error
// naming it, not silently dropped: a misspelt "sourceId" must not publish a record without its
// source id. Its errors say what to send instead (codec_hints.go), and a top-level enum value
// may be given by its short form ("keyword" for SEARCH_MODE_KEYWORD). (The binary protobuf codec
// keeps the usual forward compatibility.)
type strictJSON struct{}

// Name implements connect.Codec; it replaces the built-in "json" codec.
func (strictJSON) Name() string { return "json" }

// Marshal implements connect.Codec.
func (strictJSON) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return protojson.Marshal(pm)
}

// Unmarshal implements connect.Codec.
func (strictJSON) Unmarshal(data []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", m)
	}
	if len(data) == 0 {
		return errors.New("the request body is empty: want a JSON object")
	}
	md := pm.ProtoReflect().Descriptor()
	err := protojson.UnmarshalOptions{}.Unmarshal(data, pm)
	if err != nil && badEnumRe.MatchString(err.Error()) {
		// "mode": "keyword" for SEARCH_MODE_KEYWORD: the short spellings are accepted too.
		if fixed, ok := enumAliases(data, md); ok {
			proto.Reset(pm)
			err = protojson.UnmarshalOptions{}.Unmarshal(fixed, pm)
		}
	}
	if err != nil {
		return explainDecodeError(err, md)
	}
	return nil
}
