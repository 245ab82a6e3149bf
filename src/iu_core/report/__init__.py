"""Structure reports: one document per IU with its tree, its change history and its relations.

API::

    collect(conn, iu_id) -> ReportData | None        # one snapshot of the IU (collect)
    build(data, generated_at) -> Report              # outline, history with names before/after (model)
    render(report) -> Rendered                       # Markdown, HTML, JSON and digest (render)
    regenerate(conn, iu_id, directory=None) -> Regeneration   # monotonic write (store)
    report_by_code(conn, code) -> StoredReport
    ReportTarget()                                   # the `report` target kind (target)
"""

from __future__ import annotations

from iu_core.report.collect import ReportData, collect
from iu_core.report.model import Report, build
from iu_core.report.render import Rendered, render
from iu_core.report.store import Regeneration, StoredReport, list_reports, regenerate, report_by_code
from iu_core.report.target import ReportRef, ReportTarget

__all__ = [
    "Regeneration",
    "Rendered",
    "Report",
    "ReportData",
    "ReportRef",
    "ReportTarget",
    "StoredReport",
    "build",
    "collect",
    "list_reports",
    "regenerate",
    "render",
    "report_by_code",
]
