"""The optional TOTP second factor of dashboard users (RFC 6238, 6 digits, 30 s; pyotp).

Enrolling: `begin` stores a new secret (not in use yet) and the page shows it as an otpauth URI
and its QR code; `confirm` puts it in use once the user types a first valid code. At login, a
user with a confirmed secret is asked for a code after the password (`monitor.auth`); each code
is accepted once (`User.totp_last_step`), one step of clock drift either way is tolerated.
"""

from __future__ import annotations

import base64
import hmac
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg

from core.clock import utcnow
from monitor.models import User

ISSUER = "SPI Dasbor"
DRIFT_STEPS = 1  # codes of the previous and the next 30 s step are accepted too


def begin(user: User) -> str:
    """A new, unconfirmed secret for `user` (enrolling is only offered without a confirmed one)."""
    user.totp_secret = pyotp.random_base32()
    user.totp_enabled_at = None
    user.totp_last_step = None
    return user.totp_secret


def uri(user: User) -> str:
    assert user.totp_secret
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.login, issuer_name=ISSUER)


def qr_data_uri(text: str) -> str:
    """`text` as a QR code in an SVG data: URI (the CSP allows data: images, no script)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg: bytes = image.to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def _step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code is `code` (within the drift), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(now, counter_offset=offset), code):
            found = current + offset
    return found


def check(user: User, code: str) -> bool:
    """Whether `code` is a valid, unused code of the user's secret; if so it is used up."""
    if not user.totp_secret:
        return False
    step = _step(user.totp_secret, code, utcnow())
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def confirm(user: User, code: str) -> bool:
    """Put the enrolled secret in use if `code` is valid."""
    if user.totp_enabled_at is not None or not check(user, code):
        return False
    user.totp_enabled_at = utcnow()
    return True


def disable(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
