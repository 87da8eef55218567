"""The verdict on a cleaned record (rows.py turns a row into a Record).

Order of the verdict (the first that applies is recorded):
 1. not usable: missing_name, missing_unit, no_valid_contact, then the fields the form's
    eligibility needs (internal: missing_start_date — neither start at the unit nor at the
    institution —, missing_position; external:
    missing_service_name, missing_service_date; vendor: missing_service_date; expert:
    missing_criterion);
 2. excluded: excluded_unit; internal: top_official, support_role, tenure_under_1_year
    (eligible with at least 1 year at the unit OR at least 2 years at the institution, when the
    form has the optional institution column: population/data/sampling_rules.yaml; the reason
    keeps its name);
    external/vendor: outside_service_window (12 months ending on the reference date), is_employee;
 3. otherwise eligible (internal non-ASN staff flagged "non_asn").
The narrower window of busy units (> 300 / > 1,000 users a month) is applied by the importer
once a unit's volume is known.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import date
from functools import lru_cache

from population.rows import SKIP, Record, is_data_row, parse_row, parse_rows
from population.rules import is_excluded_unit, is_support_role, is_top_official, sampling_rules

__all__ = ["SKIP", "Record", "is_data_row", "judge", "parse_row", "parse_rows"]


def unusable_reason(r: Record) -> str | None:
    if not r.name:
        return "missing_name"
    if not r.unit_name and r.form != "expert":
        return "missing_unit"
    if not r.phone and not r.email:
        return "no_valid_contact"
    if r.form == "internal":
        if r.start_date is None and r.institution_start is None:
            return "missing_start_date"
        if not r.position:
            return "missing_position"
    elif r.form == "external":
        if not r.service_name:
            return "missing_service_name"
        if r.service_date is None:
            return "missing_service_date"
    elif r.form == "vendor":
        if r.service_date is None:
            return "missing_service_date"
    elif not r.criterion:
        return "missing_criterion"
    return None


@lru_cache(maxsize=64)
def one_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def years_before(day: date, years: int) -> date:
    """The same day `years` years earlier (29 February -> 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def long_enough(at_unit: date | None, at_institution: date | None, reference_date: date) -> bool:
    """Internal eligibility by tenure: >= 1 year at the unit OR >= 2 years at the institution
    (years from sampling_rules.yaml `internal_tenure`)."""
    rule = sampling_rules()["internal_tenure"]
    unit_ok = at_unit is not None and at_unit <= years_before(reference_date, int(rule["unit_years"]))
    institution_ok = (at_institution is not None
                      and at_institution <= years_before(reference_date, int(rule["institution_years"])))
    return unit_ok or institution_ok


def exclusion_reason(r: Record, reference_date: date, employee_contacts: Container[str]) -> str | None:
    if r.form == "expert":
        return None
    if is_excluded_unit(r.unit_name):
        return "excluded_unit"
    if r.form == "internal":
        position = r.position or ""
        if is_top_official(position):
            return "top_official"
        if is_support_role(position):
            return "support_role"
        if not long_enough(r.start_date, r.institution_start, reference_date):
            return "tenure_under_1_year"
        return None
    assert r.service_date is not None
    if not one_year_before(reference_date) < r.service_date <= reference_date:
        return "outside_service_window"
    if (r.phone and r.phone in employee_contacts) or (r.email and r.email.lower() in employee_contacts):
        return "is_employee"
    return None


def judge(r: Record, reference_date: date, employee_contacts: Container[str]) -> None:
    """Set the record's status, reason and flags."""
    reason = unusable_reason(r)
    if reason:
        r.status, r.reason = "unusable", reason
    else:
        reason = exclusion_reason(r, reference_date, employee_contacts)
        if reason:
            r.status, r.reason = "excluded", reason
    if r.non_asn:
        r.flags.append("non_asn")
