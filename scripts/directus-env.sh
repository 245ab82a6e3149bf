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
# out; isolated-vm too (see below): nothing is compiled. 12.4.1 depends on a package
# version the registry here lacks, so the version is pinned. Node 20 prints
# EBADENGINE warnings but runs it.
set -euo pipefail

VERSION=12.4.0
PG_VERSION=8.16.3  # the version @directus/api $VERSION names for its PostgreSQL driver
CACHE="${IU_CORE_DIRECTUS_CACHE:-$HOME/.cache/iu-core/directus-$VERSION-node$(node --version | sed -E "s/^v([0-9]+).*/\1/")}"
MARKER="$CACHE/.iu-core-installed"
RECIPE="$VERSION pg, no native modules"  # an older cache (SQLite, compiled modules) is installed again

installed() {
    [[ -f "$MARKER" && "$(cat "$MARKER")" == "$RECIPE" && -x "$CACHE/node_modules/.bin/directus" \
       && -f "$CACHE/node_modules/pg/package.json" ]]
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
        mkdir -p "$CACHE"
        cd "$CACHE"
        rm -rf node_modules package-lock.json "$MARKER"  # what an older recipe left
        # The tests' Directus keeps its data in PostgreSQL (DB_CLIENT=pg; the pg driver, an
        # optional dependency of @directus/api, is named so that it is always there). Two
        # native modules would be compiled with a C++ compiler when no prebuilt binary can be
        # downloaded (minutes and hundreds of MB): the SQLite driver, unused with pg, and
        # isolated-vm, used only by the Run Script operation and sandboxed extensions, which
        # the tests do not use. Overrides put a small package in their place; isolated-vm's
        # classes raise when used. (An override's path must be absolute: npm resolves a
        # relative one against the package that depends on it.)
        left_out() {  # NAME VERSION: a package of that name that is not installed
            mkdir -p "left-out/$1"
            printf '{"name": "%s", "version": "%s", "main": "index.js"}\n' "$1" "$2" > "left-out/$1/package.json"
        }
        left_out sqlite3 6.0.1
        echo 'throw new Error("sqlite3 is left out of this install: set DB_CLIENT=pg");' > left-out/sqlite3/index.js
        left_out isolated-vm 5.0.3
        cat > left-out/isolated-vm/index.js <<'JS'
class LeftOut {
    constructor() { throw new Error("isolated-vm is left out of this install (no Run Script, no sandboxed extensions)"); }
}
module.exports = { Isolate: LeftOut, Context: LeftOut, Reference: LeftOut, ExternalCopy: LeftOut, Callback: LeftOut };
JS
        printf '{"name": "iu-core-directus-cache", "private": true, "overrides": {%s, %s}}\n' \
            "\"sqlite3\": \"file:$CACHE/left-out/sqlite3\"" \
            "\"isolated-vm\": \"file:$CACHE/left-out/isolated-vm\"" > package.json
        start=$(date +%s)
        npm install --no-audit --no-fund --loglevel=error "directus@$VERSION" "pg@$PG_VERSION"
        test -x node_modules/.bin/directus
        echo "$RECIPE" > "$MARKER"
        echo "directus $VERSION installed in $CACHE in $(( $(date +%s) - start )) s"
        ;;
    *)
        echo "usage: $0 install|path|check" >&2
        exit 2
        ;;
esac
