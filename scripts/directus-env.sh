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
# tests/test_http_directus.py reads the same variable (and keeps a bootstrapped
# SQLite template there, iu-core-test-bootstrapped-12.4.0.db, so that later test
# sessions skip `directus bootstrap`). 12.4.1 depends on a package
# version the registry here lacks, so the version is pinned. Node 20 prints
# EBADENGINE warnings but runs it.
set -euo pipefail

VERSION=12.4.0
CACHE="${IU_CORE_DIRECTUS_CACHE:-$HOME/.cache/iu-core/directus-$VERSION-node$(node --version | sed -E "s/^v([0-9]+).*/\1/")}"
MARKER="$CACHE/.iu-core-installed"

installed() {
    [[ -f "$MARKER" && -x "$CACHE/node_modules/.bin/directus" ]]
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
        [[ -f package.json ]] || echo '{"name": "iu-core-directus-cache", "private": true}' > package.json
        start=$(date +%s)
        npm install --no-audit --no-fund --loglevel=error "directus@$VERSION"
        test -x node_modules/.bin/directus
        echo "$VERSION" > "$MARKER"
        echo "directus $VERSION installed in $CACHE in $(( $(date +%s) - start )) s"
        ;;
    *)
        echo "usage: $0 install|path|check" >&2
        exit 2
        ;;
esac
