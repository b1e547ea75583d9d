"""Seeded synthetic workloads: rate series in req/s, one value per ``step_s`` step.

Every generator has the signature ``fn(steps, step_s=15.0, seed=0, **params) -> ndarray``
(float64, shape ``(steps,)``, req/s) and is a pure function of its arguments: same seed,
same series. Documented output ranges hold for every seed (tests check them).

===============  ==================================================================  =========================
kind             shape                                                               range (defaults), req/s
===============  ==================================================================  =========================
``seed000``      seed 000's simulator load (seed-systems.md §1.1), see :func:`seed000`  [0.05, 4.333] (3–260/min)
``spike``        base → peak → base, seed 003 spike (6/8/6 of 20 steps)              [8.5, 115]
``ramp``         linear low → high, seed 003 ramp                                    [0.85, 115]
``periodic``     low + (high−low)(½ + ½ sin 2π·cycles·t/T), seed 003 periodic        [8.5, 115]
``random``       uniform integer in [low, high] held for ``hold_s``, seed 003 random  [10, 100]
``random_walk``  geometric random walk reflected into [low, high]                    [10, 100]
``flash_crowd``  flat base, sudden surge to ``multiplier``×base, exponential decay   [8.5, 115] (base 10, ×10)
``bursty``       on/off Markov source, exponential dwell times                       [5, 100]
===============  ==================================================================  =========================

The bursty kinds whose shape is drawn by the seed (``mmpp``, ``heavy_tail``,
``periodic_spikes``, ``from_zero``, ``step_start``, ``per_second_noise``) live in
:mod:`rlscale.workload.bursts`, with their parameter ranges and sources.

``noise`` (where present) is multiplicative Gaussian noise, clipped to ±3σ so the ranges
stay exact: a ``noise=0.05`` series lies within [0.85, 1.15] × its noiseless shape.
The simulator draws Poisson arrivals from these rates, so they carry no shot noise of their own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rlscale.workload.bursts import BURST_GENERATORS
from rlscale.workload.trace import TraceError

DEFAULT_STEP_S = 15.0

#: Seed 000 constants (seed-systems.md §1.1; alfredoLipari/CustomAutoscaler-k8s
#: ``app/dqn/test_environmnet.py``, ``_init_workload_params``/``_generate_cycle_parameters``).
SEED000_BASE_PER_MIN = 80.0
SEED000_AMPLITUDE_PER_MIN = 163.0
SEED000_MIN_PER_MIN = 3.0
SEED000_MAX_PER_MIN = 260.0
SEED000_CYCLE_S = 1200  # trend_duration: 20-minute cycles
SEED000_SMOOTHING = 0.95  # EMA weight of the previous rate
SEED000_SEED = 100  # SEED in the seed's file


def _check(steps: int, step_s: float) -> None:
    """Reject a non-positive step count or step length before any generator draws."""
    if int(steps) != steps or steps < 1:
        raise TraceError(f"synthetic: steps must be a positive integer, got {steps}")
    if not (np.isfinite(step_s) and step_s > 0):
        raise TraceError(f"synthetic: step_s must be > 0, got {step_s}")


def _rng(steps: int, step_s: float, seed: int) -> np.random.Generator:
    """The arguments checked, then the generator's own stream: one seed, one series."""
    _check(steps, step_s)
    return np.random.default_rng(seed)


def _noisy(shape: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    if noise < 0:
        raise TraceError(f"synthetic: noise must be >= 0, got {noise}")
    if noise == 0:
        return shape
    z = np.clip(rng.standard_normal(shape.size), -3.0, 3.0)
    return shape * (1.0 + noise * z)


def seed000(steps: int, step_s: float = DEFAULT_STEP_S, seed: int = SEED000_SEED) -> np.ndarray:
    """Seed 000's simulator workload, reproduced draw for draw (returned in req/s).

    Per step (``collection_interval = step_s``, 15 s in the seed) the seed advances its
    clock by ``step_s − 1`` seconds, samples, then advances one more second, so sample ``k``
    is taken at ``t = k·step_s + step_s − 1``. With ``pos = (t mod 1200)/1200`` and, per
    20-minute cycle, ``amp_mod ~ U(1, 1.5)``, ``φ ~ U(−0.3, 0.3)`` and two secondary waves
    ``A = (0.05 + U(0,1)·0.25)·60``, ``f = 0.1 + U(0,1)·0.2``, phase ``U(0, 2π)``::

        base = 80 + sin(2π·pos + φ)·163·amp_mod + Σ A·sin(f·2π·pos + phase)     (req/min)
        rw   = clip(rw + N(0, 0.5), −0.2, 0.2)·60
        x    = 0.95·x_prev + 0.05·(base + rw)     (no EMA on the first sample)
        x    = clip(x, 3, 260)

    Faithful, quirks included: ``rw`` is stored *after* the ×60, so from the second step on
    it sits at ±12 req/min (the clip saturates) — a constant offset, not a walk. The draws
    use NumPy's legacy ``RandomState(seed)`` in the seed's order (uniform, uniform, then per
    wave random, random, uniform; a normal per step). In the seed the same global stream
    also fed Gamma waiting-time draws whenever the service was overloaded, so its series
    matched this one only until the first overload. Output is ``x / 60`` req/s, within
    [3/60, 260/60].
    """
    _check(steps, step_s)
    rs = np.random.RandomState(seed)  # legacy stream on purpose: seed 000 used np.random.seed
    collection = step_s
    rates = np.empty(int(steps), dtype=np.float64)
    cycles: dict[int, tuple[float, float, list[tuple[float, float, float]]]] = {}
    rw = 0.0
    prev: float | None = None
    clock = 0.0
    for k in range(int(steps)):
        clock += collection - 1
        cycle = int(clock // SEED000_CYCLE_S)
        if cycle not in cycles:
            amp_mod = rs.uniform(1.0, 1.5)
            phi = rs.uniform(-0.3, 0.3)
            waves = []
            for _ in range(2):
                amp = (0.05 + rs.random_sample() * 0.25) * 60.0
                freq = 0.1 + rs.random_sample() * 0.2
                phase = rs.uniform(0, 2 * np.pi)
                waves.append((amp, freq, phase))
            cycles[cycle] = (amp_mod, phi, waves)
        amp_mod, phi, waves = cycles[cycle]
        pos = (clock % SEED000_CYCLE_S) / SEED000_CYCLE_S
        base = SEED000_BASE_PER_MIN + np.sin(2 * np.pi * pos + phi) * SEED000_AMPLITUDE_PER_MIN * amp_mod
        for amp, freq, phase in waves:
            base += amp * np.sin(freq * 2 * np.pi * pos + phase)
        rw = float(np.clip(rw + rs.normal(0, 0.5), -0.2, 0.2) * 60.0)
        x = base + rw
        if prev is not None:
            x = SEED000_SMOOTHING * prev + (1 - SEED000_SMOOTHING) * x
        x = float(np.clip(x, SEED000_MIN_PER_MIN, SEED000_MAX_PER_MIN))
        prev = x
        rates[k] = x / 60.0
        clock += 1
    return rates


def spike(
    steps: int,
    step_s: float = DEFAULT_STEP_S,
    seed: int = 0,
    *,
    base_rps: float = 10.0,
    peak_rps: float = 100.0,
    start_frac: float = 0.3,
    duration_frac: float = 0.4,
    noise: float = 0.05,
) -> np.ndarray:
    """Base load with one rectangular spike (seed 003: 10 → 100 → 10 users, 6/8/6 of 20 steps)."""
    rng = _rng(steps, step_s, seed)
    i = np.arange(int(steps))
    lo, hi = round(start_frac * steps), round((start_frac + duration_frac) * steps)
    shape = np.where((i >= lo) & (i < hi), peak_rps, base_rps).astype(np.float64)
    return _noisy(shape, noise, rng)


def ramp(
    steps: int,
    step_s: float = DEFAULT_STEP_S,
    seed: int = 0,
    *,
    low_rps: float = 1.0,
    high_rps: float = 100.0,
    noise: float = 0.05,
) -> np.ndarray:
    """Linear ramp from ``low_rps`` to ``high_rps`` over the series (seed 003: 1 → 100 users)."""
    rng = _rng(steps, step_s, seed)
    shape = np.linspace(low_rps, high_rps, int(steps))
    return _noisy(shape, noise, rng)


def periodic(
    steps: int,
    step_s: float = DEFAULT_STEP_S,
    seed: int = 0,
    *,
    low_rps: float = 10.0,
    high_rps: float = 100.0,
    cycles: float = 3.0,
    noise: float = 0.05,
) -> np.ndarray:
    """``low + (high − low)·(0.5 + 0.5·sin(2π·cycles·i/steps))`` (seed 003's periodic pattern)."""
    rng = _rng(steps, step_s, seed)
    i = np.arange(int(steps))
    shape = low_rps + (high_rps - low_rps) * (0.5 + 0.5 * np.sin(2 * np.pi * cycles * i / steps))
    return _noisy(shape, noise, rng)


def random_levels(
    steps: int,
    step_s: float = DEFAULT_STEP_S,
    seed: int = 0,
    *,
    low_rps: int = 10,
    high_rps: int = 100,
    hold_s: float = 30.0,
) -> np.ndarray:
    """A uniform integer rate in ``[low_rps, high_rps]`` redrawn every ``hold_s`` (seed 003's
    ``randint(10, 100)`` every 30 s)."""
    rng = _rng(steps, step_s, seed)
    t = np.arange(int(steps)) * step_s
    block = (t // hold_s).astype(np.int64)
    levels = rng.integers(int(low_rps), int(high_rps), endpoint=True, size=int(block[-1]) + 1)
    return levels[block].astype(np.float64)


def random_walk(
    steps: int,
    step_s: float = DEFAULT_STEP_S,
    seed: int = 0,
    *,
    low_rps: float = 10.0,
    high_rps: float = 100.0,
    sigma_per_sqrt_hour: float = 0.3,
) -> np.ndarray:
    """Geometric random walk (log-rate Brownian motion, volatility ``sigma_per_sqrt_hour``)
    started at the geometric mean of the bounds and reflected into ``[low_rps, high_rps]``."""
    rng = _rng(steps, step_s, seed)
    if not 0 < low_rps < high_rps:
        raise TraceError(f"random_walk: need 0 < low_rps < high_rps, got {low_rps}, {high_rps}")
    lo, hi = np.log(low_rps), np.log(high_rps)
    sd = sigma_per_sqrt_hour * np.sqrt(step_s / 3600.0)
    x = 0.5 * (lo + hi) + np.cumsum(np.concatenate([[0.0], rng.normal(0.0, sd, int(steps) - 1)]))
    width = hi - lo
    y = np.mod(x - lo, 2 * width)  # reflection = folding onto [0, 2w)
    y = np.where(y > width, 2 * width - y, y)
    return np.clip(np.exp(lo + y), low_rps, high_rps)


def flash_crowd(
    steps: int,
    step_s: float = DEFAULT_STEP_S,
    seed: int = 0,
    *,
    base_rps: float = 10.0,
    multiplier: float = 10.0,
    rise_s: float = 120.0,
    decay_s: float = 1800.0,
    noise: float = 0.05,
) -> np.ndarray:
    """Flat load, then a flash crowd: at a seeded time in the first 20–60 % of the series the
    rate rises to ``multiplier × base_rps`` with time constant ``rise_s`` (reaching ~95 % in
    3·rise_s) and decays back with time constant ``decay_s`` (NASA's STS-70 launch peak looks
    like this: ~10× the baseline within minutes)."""
    rng = _rng(steps, step_s, seed)
    t = np.arange(int(steps)) * step_s
    t0 = rng.uniform(0.2, 0.6) * steps * step_s
    dt = np.maximum(t - t0, 0.0)
    surge = (1.0 - np.exp(-dt / rise_s)) * np.exp(-dt / decay_s)
    if surge.max() > 0:  # all zero when the surge starts at or after the last step
        surge = surge / surge.max()
    shape = base_rps * (1.0 + (multiplier - 1.0) * surge)
    return _noisy(shape, noise, rng)


def bursty(
    steps: int,
    step_s: float = DEFAULT_STEP_S,
    seed: int = 0,
    *,
    low_rps: float = 5.0,
    high_rps: float = 100.0,
    mean_on_s: float = 300.0,
    mean_off_s: float = 1200.0,
) -> np.ndarray:
    """On/off source: alternating off (``low_rps``) and on (``high_rps``) periods with
    exponential durations (means ``mean_off_s`` / ``mean_on_s``), starting off. A two-state
    Markov-modulated rate, the classic model for bursty sessions (Alibaba LoRA-like)."""
    rng = _rng(steps, step_s, seed)
    total_s = int(steps) * step_s
    edges = [0.0]
    on = False
    while edges[-1] < total_s:
        edges.append(edges[-1] + rng.exponential(mean_on_s if on else mean_off_s))
        on = not on
    state = np.searchsorted(np.asarray(edges), np.arange(int(steps)) * step_s, side="right") - 1
    return np.where(state % 2 == 1, high_rps, low_rps).astype(np.float64)


GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "seed000": seed000,
    "spike": spike,
    "ramp": ramp,
    "periodic": periodic,
    "random": random_levels,
    "random_walk": random_walk,
    "flash_crowd": flash_crowd,
    "bursty": bursty,
    **BURST_GENERATORS,
}
_ALIASES = {"lipari2025": "seed000", "onoff": "bursty", "on_off": "bursty", "randomwalk": "random_walk"}


def canonical_kind(kind: str) -> str:
    """Normalise a generator name (``flash-crowd`` → ``flash_crowd``); raise if unknown."""
    k = kind.strip().lower().replace("-", "_")
    k = _ALIASES.get(k, k)
    if k not in GENERATORS:
        raise TraceError(f"unknown synthetic workload {kind!r}; known: {sorted(GENERATORS)}")
    return k


def synthetic(
    kind: str, steps: int, step_s: float = DEFAULT_STEP_S, seed: int = 0, **params: float
) -> np.ndarray:
    """Rate series (req/s) from the generator named ``kind`` (see the module table)."""
    fn = GENERATORS[canonical_kind(kind)]
    try:
        return fn(steps, step_s, seed, **params)
    except TypeError as exc:
        raise TraceError(f"synthetic {kind!r}: bad parameter ({exc})") from None
