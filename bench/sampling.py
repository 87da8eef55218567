"""Benchmark: drawing samples for many institutions (SPEC §3: 640 institutions, ~1M eligible).

    .venv/bin/python bench/sampling.py --people 1000000 --institutions 640 --db sqlite

People are bulk-inserted (not timed); then `draw_sample` runs for one campaign per institution,
each in its own transaction, and the total time is reported (selection and Assignment writes).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--institutions", type=int, default=640)
    parser.add_argument("--db", choices=["sqlite"], default="sqlite")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    from datetime import timedelta

    from core.clock import utcnow
    from core.db import session_scope
    from core.migrate import upgrade
    from core.models import Campaign, Institution, Person, Unit
    from population.sampling import draw_sample

    upgrade()
    rng = random.Random(1)
    per_inst = args.people // args.institutions
    now = utcnow()
    campaigns = []
    with session_scope(write=True) as session:
        for i in range(args.institutions):
            inst = Institution(code=f"I{i:04d}", name=f"Instansi {i}")
            session.add(inst)
            session.flush()
            units = [Unit(institution_id=inst.id, code=f"u{j}", name=f"Unit {j}") for j in range(20)]
            session.add_all(units)
            session.flush()
            rows = [{"institution_id": inst.id, "unit_id": rng.choice(units).id,
                     "group": "internal" if k % 2 else "external", "name": f"Orang {i} {k}",
                     "phone": f"+62812{i:04d}{k:05d}", "status": "eligible", "flags": [], "non_asn": False,
                     "source": "bench"} for k in range(per_inst)]
            session.execute(Person.__table__.insert(), rows)  # type: ignore[attr-defined]
            camp = Campaign(institution_id=inst.id, year=2024, name="SPI", opens_at=now,  # type: ignore[arg-type]
                            closes_at=now + timedelta(days=30), config={})
            session.add(camp)
            session.flush()
            campaigns.append(camp.id)
    started, cpu = time.perf_counter(), time.process_time()
    assigned = 0
    for cid in campaigns:
        with session_scope(write=True) as session:
            camp = session.get(Campaign, cid)
            draw = draw_sample(session, camp, seed=cid)  # type: ignore[arg-type]
            assigned += sum(a["sample"] + a.get("reserve", 0) for g in ("internal", "external")
                            for a in draw.allocations[g].values())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"sampling {args.people:,} eligible people in {args.institutions} institutions ({args.db}): "
          f"{elapsed:.1f} s wall, {cpu:.1f} s CPU, {assigned:,} assignments (sampled + reserves), "
          f"load avg {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
