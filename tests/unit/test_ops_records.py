"""The ops read records: typed fields, the row's columns in order for --json, nothing mutable."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid

import pytest

from iu_core.cli._common import _default
from iu_core.ops.records import Attempt, DeliveryHistory

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
ROW = {
    "delivery_id": 7,
    "route_code": "r",
    "target_kind": "report",
    "target_ref": "table",
    "event_id": uuid.UUID(int=1),
    "event_seq": 3,
    "event_type": "structure_op_applied",
    "iu_id": None,
    "iu_code": None,
    "state": "retrying",
    "attempts": 1,
    "next_attempt_at": NOW,
    "last_error": "boom",
    "created_at": NOW,
    "finished_at": None,
}
ATTEMPT = {
    "attempt_no": 1,
    "status": "failed",
    "started_at": NOW,
    "finished_at": NOW,
    "latency_ms": 3,
    "http_status": None,
    "reason": "boom",
    "response_snippet": "",
}


def test_a_record_prints_as_the_row_it_was_built_from() -> None:
    attempts = (Attempt.from_row(ATTEMPT),)
    record = DeliveryHistory.from_row({**ROW, "attempts_history": attempts})
    expected = {**ROW, "attempts_history": [ATTEMPT]}
    assert record.as_dict() == expected
    assert list(record.as_dict()) == [*ROW, "attempts_history"]  # the columns' order: --json is unchanged
    assert json.dumps(record, default=_default) == json.dumps(expected, default=_default)
    assert record.state == record["state"] == "retrying"
    with pytest.raises(KeyError):
        record["nope"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.state = "sent"  # type: ignore[misc]
