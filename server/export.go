package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/dump"
	"github.com/osa-archive/osa/search/where"
)

// ExportRecords streams an export: a first message with the snapshot's cursor and the count,
// then the file in chunks.
func (s *recordService) ExportRecords(ctx context.Context, req *connect.Request[osav1.ExportRecordsRequest], stream *connect.ServerStream[osav1.ExportRecordsResponse]) error {
	format := dump.JSONL
	switch req.Msg.Format {
	case osav1.ExportFormat_EXPORT_FORMAT_UNSPECIFIED, osav1.ExportFormat_EXPORT_FORMAT_JSONL:
	case osav1.ExportFormat_EXPORT_FORMAT_CSV:
		format = dump.CSV
	default:
		return domainerr.Invalid("format", "%d is not an export format: send EXPORT_FORMAT_JSONL or EXPORT_FORMAT_CSV", req.Msg.Format)
	}
	p, err := exportParams(s.parseWhere, format, req.Msg.Source, req.Msg.Where, req.Msg.IncludeDeleted)
	if err != nil {
		return err
	}
	_, err = s.exporter.Export(ctx, p, streamSink{stream})
	return err
}

// exportParams reads the fields an ExportRecords request and a download share.
func exportParams(parseWhere func(string) (*where.Expr, error), format dump.Format, source, whereText string, includeDeleted bool) (dump.ExportParams, error) {
	p := dump.ExportParams{Format: format, Source: source, IncludeDeleted: includeDeleted}
	if whereText != "" {
		e, err := parseWhere(whereText)
		if err != nil {
			return p, err
		}
		p.Where = e
	}
	return p, nil
}

// streamSink sends an export as ExportRecords messages.
type streamSink struct {
	stream *connect.ServerStream[osav1.ExportRecordsResponse]
}

func (k streamSink) Start(st dump.Start) error {
	return k.stream.Send(&osav1.ExportRecordsResponse{Cursor: st.Cursor.String(), Total: st.Total})
}

func (k streamSink) Write(chunk []byte, records int64) error {
	return k.stream.Send(&osav1.ExportRecordsResponse{Data: chunk, Records: records})
}

// Headers of a download: the export's changefeed cursor and its number of records.
const (
	headerExportCursor = "Osa-Export-Cursor"
	headerExportTotal  = "Osa-Export-Total"
)

// exportDownload serves GET /export/records.{jsonl,csv}[.gz]: the file ExportRecords streams,
// as a plain download for curl and browsers, gzip-compressed as it is written for .gz, with the
// cursor and count in headers. Query parameters: source, where, include_deleted=true.
type exportDownload struct {
	exporter   *dump.Exporter
	parseWhere func(string) (*where.Expr, error)
	logger     *slog.Logger
}

// exportRoutes are the download's paths.
var exportRoutes = []string{"GET /export/records.jsonl", "GET /export/records.jsonl.gz", "GET /export/records.csv", "GET /export/records.csv.gz"}

func (d *exportDownload) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/export/")
	base, gz := strings.CutSuffix(name, ".gz")
	format, err := dump.ParseFormat("format", strings.TrimPrefix(base, "records."))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	includeDeleted := false
	if v := q.Get("include_deleted"); v != "" {
		if includeDeleted, err = strconv.ParseBool(v); err != nil {
			d.fail(w, r, domainerr.Invalid("include_deleted", "%q is not a boolean: send true or false", v))
			return
		}
	}
	p, err := exportParams(d.parseWhere, format, q.Get("source"), q.Get("where"), includeDeleted)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	sink := &downloadSink{w: w, name: name, format: format, gz: gz}
	_, err = d.exporter.Export(r.Context(), p, sink)
	if err == nil {
		err = sink.close()
	}
	switch {
	case err == nil:
	case !sink.started:
		d.fail(w, r, err)
	default:
		// The status is sent: cut the response, so the client sees a failed transfer, never a
		// short file that looks whole.
		if r.Context().Err() == nil {
			d.logger.WarnContext(r.Context(), "server: export download failed", "error", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// fail answers an export that failed before its first byte with the status of its error.
func (d *exportDownload) fail(w http.ResponseWriter, r *http.Request, err error) {
	ce := toConnectError(r.Context(), d.logger, "GET "+r.URL.Path, err)
	var e *connect.Error
	msg, code := err.Error(), connect.CodeInternal
	if errors.As(ce, &e) {
		msg, code = e.Message(), e.Code()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, httpStatus(code))
}

// httpStatus is the HTTP status of a Connect code, as Connect's own protocol maps it.
func httpStatus(code connect.Code) int {
	switch code {
	case connect.CodeInvalidArgument:
		return http.StatusBadRequest
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	case connect.CodeCanceled:
		return 499
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// downloadSink writes an export as an HTTP response.
type downloadSink struct {
	w       http.ResponseWriter
	name    string
	format  dump.Format
	gz      bool
	started bool
	out     io.Writer
	zw      *gzip.Writer
}

func (k *downloadSink) Start(st dump.Start) error {
	h := k.w.Header()
	switch {
	case k.gz:
		h.Set("Content-Type", "application/gzip")
	case k.format == dump.CSV:
		h.Set("Content-Type", "text/csv; charset=utf-8")
	default:
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", k.name))
	h.Set("Cache-Control", "no-store")
	h.Set(headerExportCursor, st.Cursor.String())
	h.Set(headerExportTotal, strconv.FormatInt(st.Total, 10))
	k.w.WriteHeader(http.StatusOK)
	k.started = true
	k.out = k.w
	if k.gz {
		k.zw = gzip.NewWriter(k.w)
		k.out = k.zw
	}
	return nil
}

func (k *downloadSink) Write(chunk []byte, _ int64) error {
	if _, err := k.out.Write(chunk); err != nil {
		return err
	}
	if k.zw != nil {
		if err := k.zw.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(k.w).Flush()
}

// close ends the gzip stream.
func (k *downloadSink) close() error {
	if k.zw != nil {
		return k.zw.Close()
	}
	return nil
}
