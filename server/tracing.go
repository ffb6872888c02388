package server

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// tracing is the process's OpenTelemetry set-up when tracing.enabled is set.
type tracing struct {
	provider *sdktrace.TracerProvider
}

// newTracing builds a tracer provider exporting over OTLP/HTTP, configured by the standard
// OTEL_EXPORTER_OTLP_* variables, and installs the W3C trace-context propagator.
func newTracing(ctx context.Context, serviceName string) (*tracing, error) {
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: error building the OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(serviceName)))
	if err != nil {
		// Only conflicting schema URLs fail the merge: keep the default resource then.
		res = resource.Default()
	}
	// resource.Default reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; let them win.
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &tracing{provider: tp}, nil
}

// interceptor traces every RPC.
func (t *tracing) interceptor() (connect.Interceptor, error) {
	return otelconnect.NewInterceptor(otelconnect.WithTracerProvider(t.provider), otelconnect.WithoutMetrics())
}

// riverMiddleware traces every job River works or inserts.
func (t *tracing) riverMiddleware() rivertype.Middleware {
	return otelriver.NewMiddleware(&otelriver.MiddlewareConfig{TracerProvider: t.provider})
}

// shutdown flushes the spans still buffered.
func (t *tracing) shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }
