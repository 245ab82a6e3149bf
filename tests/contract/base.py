"""The contract every delivery target passes, written once and subclassed per target.

A subclass names its kind and provides a ``harness`` fixture: a live target of
that kind against real parts (a real PostgreSQL, a real receiver on
127.0.0.1), a way to make requests for real events, a way to count the
effects a key produced, an unconfigured target, and a way to make the
target's dependency too slow.
"""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from iu_core.delivery_seam import (
    DELIVERY_STATUSES,
    DeliveryNotImplemented,
    DeliveryOutcome,
    DeliveryRequest,
    DeliveryTarget,
)


@dataclass
class TargetHarness:
    """What the contract needs from one target implementation."""

    target: DeliveryTarget
    # A request for a real event the target can deliver (a new event on each call).
    make_request: Callable[[], DeliveryRequest]
    # How many effects the target made for this idempotency key (jobs, rows, received requests).
    effects: Callable[[str], int]
    # A target of the same kind whose configuration is missing (no secret, no engine, no URL).
    unconfigured: DeliveryTarget
    # Values that must never appear in an outcome's detail (secrets, tokens).
    secrets: list[str] = field(default_factory=list)
    # A context manager factory that makes the target's dependency hang; None: nothing can hang.
    slow: Callable[[], AbstractContextManager[None]] | None = None
    # The longest an attempt may take while the dependency hangs.
    deadline_s: float = 15.0


class TargetContract(ABC):
    """Subclass per target; pytest collects the subclasses' ``test_*`` methods."""

    target_kind: ClassVar[str]

    @abstractmethod
    @pytest.fixture
    def harness(self) -> Iterator[TargetHarness]:
        """A live target of ``target_kind`` and its probes."""

    def _deliver(self, harness: TargetHarness, request: DeliveryRequest) -> DeliveryOutcome:
        outcome = harness.target.deliver(request)
        assert isinstance(outcome, DeliveryOutcome)
        return outcome

    def test_outcome_is_sent_and_of_its_kind(self, harness: TargetHarness) -> None:
        request = harness.make_request()
        outcome = self._deliver(harness, request)
        assert outcome.status in DELIVERY_STATUSES
        assert outcome.target_kind == self.target_kind
        assert outcome.status == "sent", outcome.detail
        assert outcome.delivered is True
        assert harness.effects(request.idempotency_key) == 1

    def test_same_key_twice_has_one_effect(self, harness: TargetHarness) -> None:
        request = harness.make_request()
        first = self._deliver(harness, request)
        second = self._deliver(harness, request)
        assert first.status == "sent", first.detail
        assert second.status in {"sent", "skipped"}, second.detail
        assert harness.effects(request.idempotency_key) == 1

    def test_keys_are_per_delivery(self, harness: TargetHarness) -> None:
        one, two = harness.make_request(), harness.make_request()
        assert one.idempotency_key != two.idempotency_key
        assert self._deliver(harness, one).status == "sent"
        assert self._deliver(harness, two).status == "sent"
        assert harness.effects(one.idempotency_key) == 1
        assert harness.effects(two.idempotency_key) == 1

    def test_unconfigured_target_refuses(self, harness: TargetHarness) -> None:
        request = harness.make_request()
        try:
            outcome = harness.unconfigured.deliver(request)
        except DeliveryNotImplemented:
            pass
        else:
            assert outcome.status == "failed"
            assert outcome.delivered is False
            assert str(outcome.detail.get("reason", "")).strip()
        assert harness.effects(request.idempotency_key) == 0

    def test_no_secret_in_detail(self, harness: TargetHarness) -> None:
        outcomes = [self._deliver(harness, harness.make_request())]
        with suppress(DeliveryNotImplemented):
            outcomes.append(harness.unconfigured.deliver(harness.make_request()))
        text = repr([dict(o.detail) for o in outcomes])
        for secret in harness.secrets:
            assert secret and secret not in text

    def test_hanging_dependency_fails_retryably_within_deadline(self, harness: TargetHarness) -> None:
        if harness.slow is None:
            pytest.skip(f"a {self.target_kind} target has no dependency that can hang")
        request = harness.make_request()
        started = time.monotonic()
        with harness.slow():
            outcome = self._deliver(harness, request)
        assert time.monotonic() - started < harness.deadline_s
        assert outcome.status == "failed"
        assert outcome.detail.get("retryable") is True
        assert str(outcome.detail.get("reason", "")).strip()

    def test_request_refuses_an_empty_key(self, harness: TargetHarness) -> None:
        request = harness.make_request()
        with pytest.raises(ValueError):
            DeliveryRequest(
                route_code=request.route_code,
                event_ref=str(uuid.uuid4()),
                target_kind=self.target_kind,
                target_ref=request.target_ref,
                idempotency_key=" ",
            )
