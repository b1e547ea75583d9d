"""Reproduce seed 000's published simulated-HPA row (3.3 % SLO violations at 4.03 average
replicas) with rlscale's lipari2025 preset; prints JSON. See docs/evaluation.md.

    .venv/bin/python bench/reproduce_lipari.py [--steps 166000]
"""

from __future__ import annotations

import argparse
import json
import time

from rlscale.evaluation.reproduce import reproduce_lipari2025


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=16_600, help="15-s steps (the seed evaluated 166,000)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    out = reproduce_lipari2025(steps=args.steps)
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
