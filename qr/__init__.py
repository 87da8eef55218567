"""qr package: participatory registration by QR code, and its posters.

The public face: what other packages may import from qr.
"""

from qr.layout import page_for
from qr.posters import campaign_specs
from qr.render import pdf_bytes
from qr.stats import registrations

__all__ = ["campaign_specs", "page_for", "pdf_bytes", "registrations"]

# Counters (loket) per unit and their posters (monitor's "Loket dan poster").
from qr.counters import (  # noqa: E402 - appended to the public face above
    CounterError,
    CounterRow,
    UnitCounters,
    add_counter,
    counter_poster,
)
from qr.counters import overview as counter_overview  # noqa: E402
from qr.models import Counter  # noqa: E402

__all__ += ["Counter", "CounterError", "CounterRow", "UnitCounters", "add_counter", "counter_overview",
            "counter_poster"]
