"""actionplan package: the action plan (rencana aksi) followed through — made from the score
report's risk map, edited on the dashboard, exported as the 2024 form's .xlsx and re-imported,
with each action's status, evidence files and quarterly reminders to the owner units.

It sits above `reports` (it reads the risk map through `reports.build_report`) and below
`monitor` (whose page /pic/c/<id>/rencana-aksi shows it). The public face (`__all__`):
"""

from __future__ import annotations

from actionplan.evidence import read as read_evidence
from actionplan.evidence import save as save_evidence
from actionplan.models import ActionEvidence, ActionItem
from actionplan.reminders import remind_owners, run_reminders
from actionplan.service import (
    PlanError,
    Progress,
    generate,
    items,
    progress,
    read_form,
    seed,
    settings,
    status_labels,
    units_of,
    update,
    write_form,
)

__all__ = ["ActionEvidence", "ActionItem", "PlanError", "Progress", "generate", "items", "progress", "read_evidence",
           "read_form", "remind_owners", "run_reminders", "save_evidence", "seed", "settings", "status_labels",
           "units_of", "update", "write_form"]
