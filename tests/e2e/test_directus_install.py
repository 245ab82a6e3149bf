"""The tests' Directus: its data in PostgreSQL, and an install that compiled nothing."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from tests.support.directus import COLLECTION, Directus
from tests.support.directus_install import cache_dir

pytestmark = [pytest.mark.directus, pytest.mark.timeout(300)]


def test_directus_keeps_its_data_in_the_sessions_postgresql(directus: Directus) -> None:
    flow = directus.create_flow()
    try:
        event_id = str(uuid.uuid4())
        answer = directus.http.post(
            f"/flows/trigger/{flow}", json={"id": event_id, "type": "t", "data": {"n": 1}}
        )
        assert answer.status_code < 300, answer.text[:300]
        with psycopg.connect(directus.database_url) as conn:
            flows = conn.execute("SELECT count(*) FROM directus_flows WHERE id = %s", (flow,)).fetchone()
            query = sql.SQL("SELECT count(*) FROM {} WHERE event_id = %s").format(sql.Identifier(COLLECTION))
            rows = conn.execute(query, (event_id,)).fetchone()
        assert flows == (1,) and rows == (1,)
    finally:
        directus.api("DELETE", f"/flows/{flow}")
        directus.flows.remove(flow)


def test_the_install_compiled_no_native_module() -> None:
    modules = cache_dir() / "node_modules"
    assert (modules / "pg" / "package.json").is_file()
    for name in ("sqlite3", "isolated-vm"):  # left out: small packages in their place
        assert (modules / name).resolve() == (cache_dir() / "left-out" / name).resolve(), name
    # node-gyp leaves build/config.gypi wherever it configured a native build
    # (packages that ship prebuilt binaries, such as argon2 or oracledb, have none).
    assert sorted(str(p.relative_to(modules)) for p in modules.rglob("build/config.gypi")) == []
