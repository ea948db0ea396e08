# tandem in a container: a static binary on a distroless base, run as a non-root user, with the
# data file on a volume.
#
#   docker build -t tandem .
#   docker run -p 8080:8080 -v tandem-data:/data -e TANDEM_AUTH_SECRET="$(openssl rand -base64 32)" tandem
#
# Every flag of `tandem serve` is also an environment variable (TANDEM_ADDR, TANDEM_DATA...,
# docs/server.md); the ones below are the image's defaults.

# Build stage: the Go toolchain of go.mod; the browser client is embedded from client-js/ (no
# build step, no node_modules needed).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: a static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/tandem ./cmd/tandem \
 && mkdir -p /out/data

# Final stage: no shell, no package manager; user 65532 ("nonroot").
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tandem /usr/local/bin/tandem
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
ENV TANDEM_ADDR=:8080 \
    TANDEM_DATA=/data/tandem.db
EXPOSE 8080
# Liveness and readiness: GET /healthz and GET /readyz (the image has no shell to run a check in;
# let the orchestrator probe them). SIGTERM shuts down gracefully within --shutdown-timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tandem"]
CMD ["serve"]
