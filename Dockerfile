# ml-connector container: build on a Rust image, run on a slim Debian image as a non-root user.
# Base images are build arguments (mirrors, pinned digests, or a locally made Debian base).
ARG RUST_IMAGE=rust:1-slim-bookworm
# The runtime needs glibc and libgcc only (TLS roots are compiled in): a distroless "cc" image.
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them (the workspace: the root crate, its
# build script and the crates beside it).
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates crates
RUN mkdir -p src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked -p ml-connector 2>/dev/null || true
COPY src src
COPY migrations migrations
COPY workflows workflows
# The ops console as built and committed (console/dist): compiled in, no Node needed here.
COPY console/dist console/dist
# There is no .git here: the commit `--version` and /healthz report comes as a build argument
# (scripts/build-image passes it; build.rs falls back to "unknown").
ARG ML_CONNECTOR_COMMIT=unknown
RUN touch src/main.rs src/lib.rs \
    && ML_CONNECTOR_COMMIT="$ML_CONNECTOR_COMMIT" cargo build --release --locked --bin ml-connector

FROM ${RUNTIME_IMAGE} AS runtime
# No shell, no package manager: glibc, libgcc, the binary. TLS roots are compiled into the binary;
# an agent's private CA comes with the connection's secrets.
COPY --from=build /src/target/release/ml-connector /usr/local/bin/ml-connector
# distroless "nonroot"
USER 65532:65532
ENV ML_CONNECTOR_LISTEN=0.0.0.0:8080 \
    ML_CONNECTOR_LOG_FORMAT=json
EXPOSE 8080
# The binary probes itself: no shell or curl in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["ml-connector", "health", "--url", "http://127.0.0.1:8080/healthz"]
# Migrations are applied (advisory-locked) when serve starts; DATABASE_URL is required here
# (the embedded PostgreSQL is for development machines, not containers).
ENTRYPOINT ["ml-connector"]
CMD ["serve"]
