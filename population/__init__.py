"""population package: importing population lists, their quality, and drawing the sample.

The public face: what other packages may import from population (`__all__`).

It is loaded on first use (`__getattr__` below), not with the package: the selection worker of a
national draw (`python -m population.parallel`) imports this package and is meant to start
without the ORM. With these imports at the top its interpreter took 0.60 s to start instead of
0.10 s (and 63 MB instead of 22 MB), measured with `import population.parallel`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from population.drawreport import draw_summary
    from population.errors import IntakeError, SamplingError
    from population.floor import FloorNotice, external_floor
    from population.importer import import_files, unit_code
    from population.normalize import normalize_phone
    from population.plan import EXPERT_MINIMUM, SamplePlan, sample_plan
    from population.preview import (
        add_unit,
        default_reference_date,
        describe_error,
        preview_files,
        sample_drawn,
        unit_arrivals,
    )
    from population.quality import quality_report, reason_texts, write_xlsx
    from population.reserves import (
        REASONS,
        CalledReserve,
        ReserveNotFound,
        call_reserve_with_reason,
        called_reserves,
        undo_reserve,
    )
    from population.rules import is_excluded_unit
    from population.sampling import draw_sample, replace_with_reserve

__all__ = [
    "SamplingError",
    "draw_summary",
    "is_excluded_unit",
    "quality_report",
    "reason_texts",
    "replace_with_reserve",
    "write_xlsx",
    "SamplePlan",
    "sample_plan",
    "REASONS",
    "CalledReserve",
    "call_reserve_with_reason",
    "called_reserves",
    "undo_reserve",
    "ReserveNotFound",
    "EXPERT_MINIMUM",
    "draw_sample",
]

# Intake by hand (the dashboard's upload and preview) and the phone number rule (qr's registration).
__all__ += ["IntakeError", "add_unit", "default_reference_date", "describe_error", "import_files", "normalize_phone",
            "preview_files", "sample_drawn", "unit_arrivals"]

# The external floor near the close (issue 24): the overview's notice to the PIC.
__all__ += ["FloorNotice", "external_floor"]

# How the importer codes a unit's name (a unit's own upload link accepts only its own rows).
__all__ += ["unit_code"]


def __getattr__(name: str) -> Any:
    """A name of the public face, imported from its module on first use (see above)."""
    value: Any
    if name == "draw_summary":
        from population.drawreport import draw_summary as value  # lazy: see module docstring
    elif name == "SamplingError":
        from population.errors import SamplingError as value  # lazy: see module docstring
    elif name == "IntakeError":
        from population.errors import IntakeError as value  # lazy: see module docstring
    elif name in ("FloorNotice", "external_floor"):
        from population import floor  # lazy: see module docstring

        value = getattr(floor, name)
    elif name == "import_files":
        from population.importer import import_files as value  # lazy: see module docstring
    elif name == "unit_code":
        from population.importer import unit_code as value  # lazy: see module docstring
    elif name == "normalize_phone":
        from population.normalize import normalize_phone as value  # lazy: see module docstring
    elif name in ("add_unit", "default_reference_date", "describe_error", "preview_files", "sample_drawn",
                  "unit_arrivals"):
        from population import preview  # lazy: see module docstring

        value = getattr(preview, name)
    elif name == "quality_report":
        from population.quality import quality_report as value  # lazy: see module docstring
    elif name == "reason_texts":
        from population.quality import reason_texts as value  # lazy: see module docstring
    elif name == "write_xlsx":
        from population.quality import write_xlsx as value  # lazy: see module docstring
    elif name == "is_excluded_unit":
        from population.rules import is_excluded_unit as value  # lazy: see module docstring
    elif name == "replace_with_reserve":
        from population.sampling import replace_with_reserve as value  # lazy: see module docstring
    elif name == "draw_sample":
        from population.sampling import draw_sample as value  # lazy: see module docstring
    elif name in ("EXPERT_MINIMUM", "SamplePlan", "sample_plan"):
        from population import plan  # lazy: see module docstring

        value = getattr(plan, name)
    elif name in ("REASONS", "CalledReserve", "ReserveNotFound", "call_reserve_with_reason", "called_reserves",
                  "undo_reserve"):
        from population import reserves  # lazy: see module docstring

        value = getattr(reserves, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
