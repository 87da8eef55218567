"""capi package: offline interviews on interviewers' tablets (issue 23).

The public face: what other packages (the dashboard) may import from capi.
"""

from capi.intercept import interval, is_selected, random_start, selected_count
from capi.models import CapiDevice, CapiSubmission, InterviewerAssignment, Mode, Outcome, WipeOrder
from capi.service import (
    ItemResult,
    Row,
    assign,
    bundle,
    confirm_wipe,
    message,
    order_wipe,
    overview,
    settings,
    sync,
    touch_device,
    valid_device_id,
    wipe_pending,
)

__all__ = [
    "CapiDevice", "CapiSubmission", "InterviewerAssignment", "ItemResult", "Mode", "Outcome", "Row",
    "WipeOrder", "assign", "bundle", "confirm_wipe", "interval", "is_selected", "message", "order_wipe",
    "overview", "random_start", "selected_count", "settings", "sync", "touch_device", "valid_device_id",
    "wipe_pending",
]
