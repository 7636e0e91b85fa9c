# ddbx container: built on Debian 12 with the same packages CI uses.
FROM debian:12-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libuv1-dev liblmdb-dev libcurl4-openssl-dev libmsgpack-dev \
      libcmocka-dev libhttp-parser-dev libyajl-dev libxxhash-dev zlib1g-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDDBX_TESTS=OFF \
    && cmake --build /build -j"$(nproc)"

# The bench profile of docker-compose.yml: bench/loadgen's load generator and
# bench/compose-bench.sh (`docker-compose --profile bench run --rm bench`).
FROM build AS bench-build
RUN make -C /src/bench/loadgen OUT=/build

FROM debian:12-slim AS bench
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libuv1 libhttp-parser2.9 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=bench-build /build/ddbx-load /usr/local/bin/ddbx-load
COPY bench/compose-bench.sh /usr/local/bin/compose-bench
USER nobody
ENTRYPOINT ["/usr/local/bin/compose-bench"]

# The ddbx image (the default target): the last stage.
FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libuv1 liblmdb0 libcurl4 libmsgpackc2 libhttp-parser2.9 libyajl2 libxxhash0 zlib1g \
      libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/ddbx /usr/local/bin/ddbx
EXPOSE 8111 9111 7000
USER nobody
ENTRYPOINT ["/usr/local/bin/ddbx"]
