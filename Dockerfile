# Multi-stage build of the nextal-sms binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p nextal-api --bin nextal-sms

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/nextal-sms --create-home nextal
COPY --from=build /src/target/release/nextal-sms /usr/local/bin/nextal-sms
USER nextal
WORKDIR /var/lib/nextal-sms
ENV NEXTAL_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/nextal-sms/data/nextal-sms.db
EXPOSE 8080
VOLUME ["/var/lib/nextal-sms/data"]
ENTRYPOINT ["nextal-sms"]
CMD ["serve"]
