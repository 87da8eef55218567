"""Entry point of a worker subprocess in tests: the network guard first, then a real worker."""

from __future__ import annotations

import sys

from tests import netguard

netguard.install()

if __name__ == "__main__":
    from dispatch.worker import run_forever

    stats = run_forever(once="--once" in sys.argv)
    print(stats, flush=True)
