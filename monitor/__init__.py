"""monitor package."""

__all__: list[str] = []  # no feature package imports the dashboard; app wires its router
