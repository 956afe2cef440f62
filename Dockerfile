# stride in a small runtime image. Build stage: the Rust toolchain compiles the one
# binary (the SQL project and the data contracts are embedded in it). Runtime stage: Debian slim with CA
# certificates (for https endpoints), the C++ runtime (DuckDB is linked in) and the
# binary, run as an unprivileged user.
# `/warehouse` exists in the image, owned by that user, so a named volume mounted
# there starts with that owner. The marts are published there: the DuckDB file's
# views name their Parquet files by absolute path, so every container that reads
# the file (Metabase) mounts the volume at this same path.
FROM rust:1.95-slim-bookworm AS build
# DuckDB (the `duckdb` crate's bundled C++) needs a C++ compiler.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src src
COPY queries queries
COPY data_contracts data_contracts
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin stride \
    && cp target/release/stride /usr/local/bin/stride

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/stride stride \
    && install -d -o stride -g stride /warehouse
COPY --from=build /usr/local/bin/stride /usr/local/bin/stride
ENV STRIDE_DUCKDB=/warehouse/stride.duckdb
USER stride
WORKDIR /home/stride
ENTRYPOINT ["stride"]
CMD ["demo"]
