# PostgreSQL 15 for several gantryd replicas (--store postgresql://...), built
# from debian:bookworm-slim and Debian's postgresql package, so it builds
# where no registry can be reached:
#
#   podman build --isolation chroot -t localhost/gantry-postgres -f deploy/postgres.Dockerfile .
#
# It takes the official postgres image's variables (POSTGRES_PASSWORD or
# POSTGRES_PASSWORD_FILE, POSTGRES_USER, POSTGRES_DB, PGDATA), so where a
# registry is at hand, image: postgres:15 can stand in for it unchanged.
# The first start makes the cluster (scram-sha-256 over TCP), the role and
# the database; gantryd creates its schema itself.
FROM debian:bookworm-slim
COPY deploy/install-deps.sh /tmp/install-deps.sh
# The postgres user's uid is fixed at 999 (as in the official image) for the
# data volume's ownership (Kubernetes: runAsUser and fsGroup 999). The
# package's own cluster (15/main) is dropped: the entry point makes one in
# PGDATA, on the volume.
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --no-create-home \
      --shell /bin/bash postgres \
 && /tmp/install-deps.sh --postgres \
 && { ! pg_lsclusters -h | grep -q '^15 *main' || pg_dropcluster --stop 15 main; } \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /tmp/install-deps.sh \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY deploy/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data/pgdata \
    POSTGRES_USER=gantry \
    POSTGRES_DB=gantry
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=5 \
  CMD ["sh", "-c", "pg_isready -q -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\""]
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint.sh"]
