# Richmond in a container: built with the Rust toolchain, run as an unprivileged user on a
# slim Debian. The admin listener's /ready is the health check; mount the config at
# /etc/richmond/richmond.toml and a volume at /var/lib/richmond (the embedded bus, redb).
#   docker build -t richmond .
#   docker run -v "$PWD/config/richmond.toml:/etc/richmond/richmond.toml:ro" richmond
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p richmond \
 && install -D -m 0755 target/release/richmond /out/richmond

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 richmond \
 && useradd --system --uid 10001 --gid richmond --groups dialout --home-dir /var/lib/richmond \
      --shell /usr/sbin/nologin richmond \
 && install -d -o richmond -g richmond -m 0750 /var/lib/richmond /etc/richmond
COPY --from=build /out/richmond /usr/bin/richmond
# The user alone, so its supplementary group (dialout: modems) applies.
USER richmond
WORKDIR /var/lib/richmond
VOLUME ["/var/lib/richmond"]
# The check runs inside the container: the admin listener's default loopback address does.
# (Listen on 0.0.0.0:9464 only to publish the port to the operator's network.)
ENV HEALTHCHECK_URL=http://127.0.0.1:9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS "$HEALTHCHECK_URL/ready" || exit 1
EXPOSE 9464
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/richmond"]
CMD ["--config", "/etc/richmond/richmond.toml", "--log-format", "json"]
