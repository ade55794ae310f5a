# One image for the production binaries: projector, query, redrive, gen (the
# demo load of docker-compose) and duroscope (CLI), listed explicitly: the
# benchmark suite (cmd/bench) is a development tool and stays out.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ \
    ./cmd/projector ./cmd/query ./cmd/redrive ./cmd/connector ./cmd/gen ./cmd/duroscope

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 duroscope && mkdir /data && chown duroscope /data
COPY --from=build /out/ /usr/local/bin/
USER duroscope
WORKDIR /data
