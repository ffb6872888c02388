# syntax=docker/dockerfile:1
# OSA server image: one static binary on a distroless base, running as a non-root user.
#   docker build -t osa .
#   docker run -e OSA_DATABASE__URL=postgres://osa:osa@db:5432/osa -p 8080:8080 osa serve
# Multi-platform: docker buildx build --platform linux/amd64,linux/arm64 -t osa .

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/osa ./cmd/osa

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/osa /osa
COPY config/osa.example.yaml /etc/osa/osa.example.yaml
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["/osa", "healthcheck"]
ENTRYPOINT ["/osa"]
CMD ["serve"]
