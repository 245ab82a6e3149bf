"""The target contract for ``workflow`` / ``pgqueuer:ENTRYPOINT`` against a real database with pgqueuer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from iu_core.delivery.transactional import bind
from iu_core.workflow import WorkflowTarget
from tests.contract.base import TargetContract, TargetHarness
from tests.support.workflow import install, jobs_with_key, make_request


class TestWorkflowPgQueuerContract(TargetContract):
    target_kind = "workflow"

    @pytest.fixture
    def harness(self, database_url: str) -> Iterator[TargetHarness]:
        install(database_url)
        with psycopg.connect(database_url, autocommit=True) as conn:

            @contextmanager
            def locked_queue() -> Iterator[None]:
                # Another session holds pgqueuer's table: the enqueue waits on the lock.
                with psycopg.connect(database_url) as locker:
                    locker.execute("LOCK TABLE pgqueuer IN ACCESS EXCLUSIVE MODE")
                    yield
                    locker.rollback()

            yield TargetHarness(
                target=bind(WorkflowTarget(enqueue_timeout_s=2), conn),
                make_request=lambda: make_request(conn),
                effects=lambda key: jobs_with_key(conn, key),
                unconfigured=bind(WorkflowTarget(engines=[]), conn),  # no engine built
                slow=locked_queue,
                deadline_s=10,
            )
