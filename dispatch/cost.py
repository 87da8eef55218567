"""What a wave of WhatsApp template messages costs, from the prices in a data file.

Meta bills each delivered template message by its category (marketing, utility, authentication) and
the recipient's country; Twilio adds its own fee per message. The figures live in
`dispatch/data/whatsapp_prices.yaml`, which the PIC or an admin may edit; docs/whatsapp.md says
where they come from. The estimate is an upper bound: it counts every message as delivered and
outside a customer-service window (utility templates inside an open window were free).

    PriceFileError (core.datafiles.DataFileError, a ValueError): the file is missing, not YAML,
        or lacks a field; the message names the file and what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core.clock import format_date_id
from core.datafiles import DataFileError, read_yaml

PRICES_FILE = Path(__file__).resolve().parent / "data" / "whatsapp_prices.yaml"
CATEGORIES = ("marketing", "utility", "authentication")
CATEGORY_ID = {"marketing": "pemasaran", "utility": "utilitas", "authentication": "autentikasi"}


class PriceFileError(DataFileError):
    """The prices file cannot be used; the message names the file and what to fix."""


@dataclass(frozen=True)
class Prices:
    """The contents of a prices file, checked."""

    path: Path
    market: str
    currency: str
    per_message: Mapping[str, Decimal]  # category -> price of one delivered template message
    provider: str
    provider_fee: Decimal  # per message, whatever its category
    templates: Mapping[str, str]  # our template name -> category
    source: str
    as_of: date


@dataclass(frozen=True)
class CostEstimate:
    """The cost of some WhatsApp template messages. Amounts are exact (Decimal), not rounded."""

    counts: Mapping[str, int]  # category -> messages (only categories with messages)
    unit_prices: Mapping[str, Decimal]  # category -> price per message
    costs: Mapping[str, Decimal]  # category -> Meta's fees
    messages: int
    meta_total: Decimal
    provider: str
    provider_fee: Decimal  # per message
    provider_total: Decimal
    total: Decimal  # Meta's fees + the provider's
    currency: str
    market: str
    source: str
    as_of: date
    path: Path  # the prices file the figures came from


def load_prices(path: Path | None = None) -> Prices:
    """The prices in `path` (default: the shipped file), read again when the file changes."""
    path = path or PRICES_FILE
    try:
        stat = path.stat()
    except OSError as exc:
        raise PriceFileError(f"{path}: cannot be read ({exc.strerror}). Restore the file from the "
                             "repository or point to an existing prices file.") from exc
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load(path: str, _mtime: int, _size: int) -> Prices:
    """Parsed once per version of the file (`_mtime`, `_size` key the cache)."""
    file = Path(path)
    data = read_yaml(file)
    if not isinstance(data, dict):
        raise PriceFileError(f"{file}: expected keys such as 'per_message:' and 'templates:' at the "
                             "top level; the file is empty or not a mapping")
    per_message = _section(file, data, "per_message")
    prices = {c: _amount(file, f"per_message.{c}", per_message.get(c)) for c in CATEGORIES}
    templates = _section(file, data, "templates")
    for name, category in templates.items():
        if category not in CATEGORIES:
            raise PriceFileError(f"{file}: templates.{name} is {category!r}; use one of "
                                 f"{', '.join(CATEGORIES)}")
    fee = data.get("provider_fee_per_message", 0)
    return Prices(
        path=file,
        market=_text(file, data, "market"),
        currency=_text(file, data, "currency"),
        per_message=MappingProxyType(prices),
        provider=str(data.get("provider") or "penyedia"),
        provider_fee=_amount(file, "provider_fee_per_message", fee),
        templates=MappingProxyType({str(k): str(v) for k, v in templates.items()}),
        source=_text(file, data, "source"),
        as_of=_date(file, data.get("as_of")),
    )


def _section(file: Path, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict) or not value:
        raise PriceFileError(f"{file}: '{key}:' is missing or empty; give it one entry per line, "
                             "e.g. 'utility: 0.0250'")
    return value


def _text(file: Path, data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PriceFileError(f"{file}: '{key}:' is missing; give it a text value")
    return value.strip()


def _amount(file: Path, key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PriceFileError(f"{file}: {key} is missing or not a number; write e.g. 0.0250 "
                             "(a dot as the decimal mark, no currency sign)")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise PriceFileError(f"{file}: {key} is {value!r}, not a number; write e.g. 0.0250 "
                             "(a dot as the decimal mark, no currency sign)") from None
    if not amount.is_finite() or amount < 0:
        raise PriceFileError(f"{file}: {key} is {value!r}; a price must be zero or more")
    return amount


def _date(file: Path, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PriceFileError(f"{file}: 'as_of:' is {value!r}; write the date the prices took effect "
                             "as YYYY-MM-DD") from None


def estimate(counts: Mapping[str, int], prices: Prices | None = None) -> CostEstimate:
    """The cost of sending `counts[template]` WhatsApp template messages of each template
    (invitation, reminder, last_call, registration), priced by the template's category."""
    prices = prices or load_prices()
    by_category: dict[str, int] = {}
    for template, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"message count for {template!r} must be a whole number >= 0, not {n!r}")
        category = prices.templates.get(template)
        if category is None:
            raise PriceFileError(f"{prices.path}: template {template!r} has no category; add "
                                 f"'{template}: utility' (or its category) under 'templates:'")
        if n:
            by_category[category] = by_category.get(category, 0) + n
    ordered = {c: by_category[c] for c in CATEGORIES if c in by_category}
    unit = {c: prices.per_message[c] for c in ordered}
    costs = {c: n * unit[c] for c, n in ordered.items()}
    messages = sum(ordered.values())
    meta_total = sum(costs.values(), Decimal(0))
    provider_total = messages * prices.provider_fee
    return CostEstimate(
        counts=ordered, unit_prices=unit, costs=costs, messages=messages, meta_total=meta_total,
        provider=prices.provider, provider_fee=prices.provider_fee, provider_total=provider_total,
        total=meta_total + provider_total, currency=prices.currency, market=prices.market,
        source=prices.source, as_of=prices.as_of, path=prices.path,
    )


def format_cost_id(estimate: CostEstimate) -> str:
    """One short Indonesian line for the PIC, e.g. "1.234 pesan utilitas × US$0,0250 ≈ US$30,85
    (tarif Meta Indonesia per 1 Juli 2025; dapat diubah di dispatch/data/whatsapp_prices.yaml)";
    the provider's fee, when the file has one, is shown between the total and the note."""
    cur = _currency_symbol(estimate.currency)
    if estimate.counts:
        parts = [f"{_number_id(n)} pesan {CATEGORY_ID[c]} × {cur}{_money_id(estimate.unit_prices[c], 4)}"
                 for c, n in estimate.counts.items()]
        line = " + ".join(parts) + f" ≈ {cur}{_money_id(estimate.meta_total, 2)}"
    else:
        line = f"0 pesan templat WhatsApp ≈ {cur}{_money_id(Decimal(0), 2)}"
    if estimate.provider_total:
        line += (f" + biaya {estimate.provider} {cur}{_money_id(estimate.provider_total, 2)}"
                 f" = {cur}{_money_id(estimate.total, 2)}")
    note = (f"tarif Meta {estimate.market} per {format_date_id(estimate.as_of)}; "
            f"dapat diubah di {_display_path(estimate.path)}")
    return f"{line} ({note})"


def _currency_symbol(currency: str) -> str:
    return {"USD": "US$", "IDR": "Rp"}.get(currency.upper(), f"{currency} ")


def _money_id(amount: Decimal, places: int) -> str:
    """Indonesian notation: '.' between thousands, ',' before the decimals (1.234,50)."""
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f}".replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def _number_id(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _display_path(path: Path) -> str:
    """The file relative to the project when it is inside it (what the PIC can find and edit)."""
    root = PRICES_FILE.parent.parent.parent
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


__all__ = ["CostEstimate", "PriceFileError", "Prices", "estimate", "format_cost_id", "load_prices"]
