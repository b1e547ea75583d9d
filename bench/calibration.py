"""Fit error of the ``teastore`` model on held-out measured rows (issue 6), as JSON.

Fits :class:`rlscale.sim.teastore.TeaStoreModel` on the first 80 % (time order) of every
measured file and prints the errors on the last 20 %: throughput at saturation per
(replicas, CPU) configuration (target: within 10 %), mean latency of unsaturated rows per
(replicas, CPU, offered load) cell (target: within 20 %), memory vs heap, and the GC effect.

Usage: ``python bench/calibration.py [--data-dir DIR] [--cells]``.
"""

from __future__ import annotations

import argparse
import json
import time

from rlscale.calibration.teastore_fit import calibrate
from rlscale.sim.teastore import TEASTORE_MODEL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None, help="folder with gsa_data.log and the Locust CSVs")
    parser.add_argument(
        "--holdout", type=float, default=0.2, help="held-out fraction (last rows of each file)"
    )
    parser.add_argument("--cells", action="store_true", help="include the per-configuration table")
    args = parser.parse_args()
    t0 = time.perf_counter()
    model, errors = calibrate(args.data_dir, args.holdout)
    if not args.cells:
        errors["throughput_saturation"].pop("cells", None)
    shipped = TEASTORE_MODEL.to_dict()
    fitted = model.to_dict()
    out = {
        "holdout": "last 20 % of each file in time order"
        if args.holdout == 0.2
        else f"last {args.holdout:.0%}",
        "targets": {"throughput_saturation": 0.10, "latency": 0.20},
        "errors": errors,
        "fitted_model": fitted,
        "shipped_model_matches_fit": all(
            abs(fitted[k] - shipped[k]) <= 1e-3 * max(abs(shipped[k]), 1e-9) for k in fitted
        ),
        "fit_seconds": round(time.perf_counter() - t0, 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
