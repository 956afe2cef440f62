# Metabase with the DuckDB driver, to read the marts stride publishes.
#
# The driver bundles its own DuckDB (duckdb_jdbc), which must be able to open the file
# stride writes: driver 1.5.3.0 bundles DuckDB 1.5.3, the DuckDB stride is built
# with (Cargo.toml pins the duckdb crate to 1.10503.x). Change both together; see
# README "DuckDB version".
#
# The official metabase/metabase image is Alpine (musl) and the driver's default jar
# carries a glibc DuckDB library, so this image is Debian-based (Ubuntu jammy JRE),
# as the driver's own Dockerfile does.
FROM eclipse-temurin:21-jre-jammy

ARG METABASE_VERSION=0.59.12
ARG DUCKDB_DRIVER_VERSION=1.5.3.0

ENV MB_PLUGINS_DIR=/home/metabase/plugins \
    MB_DB_FILE=/home/metabase/data/metabase.db

RUN groupadd --system metabase \
    && useradd --system --gid metabase --create-home --home-dir /home/metabase metabase \
    && install -d -o metabase -g metabase /home/metabase/plugins /home/metabase/data

ADD --chown=metabase:metabase \
    https://downloads.metabase.com/v${METABASE_VERSION}/metabase.jar /home/metabase/metabase.jar
ADD --chown=metabase:metabase \
    https://github.com/motherduckdb/metabase_duckdb_driver/releases/download/${DUCKDB_DRIVER_VERSION}/duckdb.metabase-driver.jar \
    /home/metabase/plugins/duckdb.metabase-driver.jar

USER metabase
WORKDIR /home/metabase
EXPOSE 3000
CMD ["java", "-jar", "/home/metabase/metabase.jar"]
