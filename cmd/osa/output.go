package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// printJSON writes the JSON form of --json: the API's own, msgs as the Connect JSON API answers
// them (protojson with the server's options: lowerCamelCase field names, enum names such as
// SEARCH_MODE_VECTOR, 64-bit integers as strings, timestamps in RFC 3339, and fields at their
// zero value left out, exactly as curl of the API shows them), indented by two spaces.
//
// Several messages, whose fields must not share names, are written as one object holding the
// fields of each in turn: osa get --status prints GetRecordResponse's record beside
// GetIndexStatusResponse's srn and statuses. The output is stable: protojson's own whitespace,
// which varies on purpose, is replaced.
func printJSON(w io.Writer, msgs ...proto.Message) error {
	obj := []byte{'{'}
	for _, m := range msgs {
		b, err := protojson.Marshal(m)
		if err != nil {
			return fmt.Errorf("error encoding %s as JSON: %w", m.ProtoReflect().Descriptor().FullName(), err)
		}
		// b is one object; keep what is between its braces.
		fields := bytes.TrimSpace(b)
		fields = bytes.TrimSpace(fields[1 : len(fields)-1])
		if len(fields) == 0 {
			continue
		}
		if len(obj) > 1 {
			obj = append(obj, ',')
		}
		obj = append(obj, fields...)
	}
	obj = append(obj, '}')
	var out bytes.Buffer
	if err := json.Indent(&out, obj, "", "  "); err != nil {
		return fmt.Errorf("error indenting JSON: %w", err)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}
