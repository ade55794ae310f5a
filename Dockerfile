# One image for every Duroscope binary: projector, query, gen, duroscope (CLI).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 duroscope && mkdir /data && chown duroscope /data
COPY --from=build /out/ /usr/local/bin/
USER duroscope
WORKDIR /data
