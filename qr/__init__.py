"""qr package: participatory registration by QR code, and its posters.

The public face: what other packages may import from qr.
"""

from qr.layout import page_for
from qr.posters import campaign_specs
from qr.render import pdf_bytes
from qr.stats import registrations

__all__ = ["campaign_specs", "page_for", "pdf_bytes", "registrations"]
