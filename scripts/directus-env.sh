#!/usr/bin/env bash
# Install Directus 12.4.0 (for the directus_flow target's tests) into a cache
# directory OUTSIDE the clone, reusing it when it is already there.
#
#   scripts/directus-env.sh install   # npm install once (~6 min, ~700 MB); no-op when present
#   scripts/directus-env.sh path      # print the directory the tests use
#   scripts/directus-env.sh check     # exit 0 when installed, 1 otherwise
#
# The cache directory is ${IU_CORE_DIRECTUS_CACHE:-$HOME/.cache/iu-core/directus-12.4.0-nodeNN}
# (one per Node.js major version: native modules are built for it);
# tests/support/directus_install.py reads the same variable. The tests' Directus
# keeps its data in the test session's PostgreSQL, so the SQLite driver is left
# out and nothing is compiled. 12.4.1 depends on a package
# version the registry here lacks, so the version is pinned. Node 20 prints
# EBADENGINE warnings but runs it.
set -euo pipefail

VERSION=12.4.0
PG_VERSION=8.16.3  # the version @directus/api $VERSION names for its PostgreSQL driver
CACHE="${IU_CORE_DIRECTUS_CACHE:-$HOME/.cache/iu-core/directus-$VERSION-node$(node --version | sed -E "s/^v([0-9]+).*/\1/")}"
MARKER="$CACHE/.iu-core-installed"

installed() {
    [[ -f "$MARKER" && -x "$CACHE/node_modules/.bin/directus" && -f "$CACHE/node_modules/pg/package.json" ]]
}

case "${1:-install}" in
    path)
        echo "$CACHE"
        ;;
    check)
        if installed; then echo "directus $VERSION installed in $CACHE"; else
            echo "directus $VERSION not installed in $CACHE (run scripts/directus-env.sh install)" >&2
            exit 1
        fi
        ;;
    install)
        if installed; then
            echo "directus $VERSION already installed in $CACHE"
            exit 0
        fi
        mkdir -p "$CACHE/no-sqlite3"
        cd "$CACHE"
        # The tests' Directus keeps its data in PostgreSQL (DB_CLIENT=pg; the pg driver, an
        # optional dependency of @directus/api, is named so it is always there). Its other
        # optional driver, sqlite3, would be compiled with a C compiler when no prebuilt
        # binary can be downloaded: an override puts an empty package in its place.
        # (The override's path must be absolute: npm resolves a relative one against the
        # package that depends on it.)
        cat > no-sqlite3/package.json <<'JSON'
{"name": "sqlite3", "version": "6.0.1", "main": "index.js", "description": "left out: this Directus uses PostgreSQL"}
JSON
        echo 'throw new Error("sqlite3 is left out of this install: set DB_CLIENT=pg");' > no-sqlite3/index.js
        printf '{"name": "iu-core-directus-cache", "private": true, "overrides": {"sqlite3": "file:%s/no-sqlite3"}}\n' \
            "$CACHE" > package.json
        start=$(date +%s)
        npm install --no-audit --no-fund --loglevel=error "directus@$VERSION" "pg@$PG_VERSION"
        test -x node_modules/.bin/directus
        echo "$VERSION" > "$MARKER"
        echo "directus $VERSION installed in $CACHE in $(( $(date +%s) - start )) s"
        ;;
    *)
        echo "usage: $0 install|path|check" >&2
        exit 2
        ;;
esac
