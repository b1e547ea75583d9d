"""Bursty synthetic load whose shape parameters are drawn by the seed (issue 13 item 5).

The kinds in :mod:`rlscale.workload.synthetic` replay fixed shapes (one spike at 30 %, three
sine cycles); a policy trained on them learns those shapes. Each kind here draws its shape
(periods, phases, dwell times, burst sizes) from documented ranges, so every seed is another
service's load. Same signature as the other generators: ``fn(steps, step_s=15, seed=0,
**overrides) -> ndarray`` (req/s, float64, ``(steps,)``); an override fixes one parameter
and leaves the draws of the others unchanged.

Conventions:

* **Fine grid.** Rates are built on a 1-s grid and averaged over each ``step_s`` step, so the
  15-s series of a seed is the step mean of its 1-s series over the same span (the per-second
  structure is real, not interpolated). Only beyond :data:`MAX_FINE_SAMPLES` is the grid coarser.
* **Streams.** Parameters and events come from two independent streams spawned from the seed
  (``SeedSequence(seed).spawn(2)``), so overriding a parameter keeps the others' draws.
* **Output.** The modulating rate only: the simulator draws Poisson arrivals from it.
  Every kind lies in ``[0, base_rps × its bound]`` (module table, tests check it).

Where a range comes from (``SOURCES``): the shared traces' measured statistics
(``shared/data/traces/README.md``: NASA peak/median 405/36 ≈ 11; Twitter bursts ~7 min long
every 1–2 h at 3–5× the baseline; Alibaba LoRA sessions of minutes, median 0 req/min,
peak/mean 79); heavy tails from Crovella & Bestavros, "Self-similarity in World Wide Web
traffic", IEEE/ACM ToN 1997 (Pareto ON-period tails, alpha 1.0–1.5) and Leland et al.,
"On the self-similar nature of Ethernet traffic", ToN 1994; timer-triggered load and idle
services from Shahrad et al., "Serverless in the Wild", USENIX ATC 2020 (timers with minute
to hour periods; 45 % of applications invoked at most once per hour); the rest are stated
as assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from rlscale.workload.trace import TraceError

DEFAULT_STEP_S = 15.0
#: Most fine-grid samples one series may use (~32 MiB of float64); longer series use a
#: coarser grid (still a whole number of sub-steps per step).
MAX_FINE_SAMPLES = 1 << 22
#: Shortest first idle period of ``from_zero`` (or one step, if longer): the series starts idle.
FIRST_IDLE_MIN_S = 60.0


@dataclass(frozen=True)
class Range:
    """A parameter's documented range: drawn uniformly (``log``: log-uniformly; ``integer``:
    uniform integer, both ends included). ``low == high`` is a fixed default."""

    low: float
    high: float
    source: str
    log: bool = False
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float:
        if self.integer:
            return float(rng.integers(int(self.low), int(self.high), endpoint=True))
        u = rng.uniform()  # one draw per parameter, fixed or not, keeps later draws in place
        if self.low == self.high:
            return float(self.low)
        if self.log:
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return float(self.low + u * (self.high - self.low))

    def check(self, kind: str, name: str, value: float) -> float:
        """An override must be finite; an integer >= low for integer ranges (low is the least
        meaningful value), > 0 where the range is positive, else >= 0."""
        v = float(value)
        if self.integer:
            ok, need = v >= self.low and v.is_integer(), f"an integer >= {self.low:g}"
        elif self.log or self.low > 0:
            ok, need = v > 0, "> 0"
        else:
            ok, need = v >= 0, ">= 0"
        if not (math.isfinite(v) and ok):
            raise TraceError(f"synthetic {kind!r}: {name}={value!r} must be {need}")
        return v


BASE = Range(10.0, 10.0, "fixed default; training and evaluation rescale every series by its peak")
_DATA = "shared/data/traces/README.md"

#: Every kind's parameters, in draw order, with their ranges and sources.
PARAMETER_RANGES: dict[str, dict[str, Range]] = {
    "mmpp": {
        "base_rps": BASE,
        "states": Range(
            2,
            4,
            "assumption: 2-state MMPP is the classic bursty source (Heffes & "
            "Lucantoni, IEEE JSAC 1986); 3-4 levels for multi-level load",
            integer=True,
        ),
        "level_ratio": Range(2.0, 20.0, f"{_DATA}: Twitter bursts 3-5x, NASA peak/median 11", log=True),
        "dwell_min_s": Range(
            30.0,
            300.0,
            "assumption: shortest mean dwell 30 s to 5 min (Twitter bursts last ~7 min)",
            log=True,
        ),
        "dwell_max_s": Range(300.0, 3600.0, f"{_DATA}: Twitter bursts every 1-2 h", log=True),
    },
    "heavy_tail": {
        "base_rps": BASE,
        "alpha": Range(
            1.1, 2.0, "Crovella & Bestavros 1997: Pareto tails alpha 1.0-1.5; up to 2 (finite mean)"
        ),
        "mean_gap_s": Range(300.0, 3600.0, f"{_DATA}: Twitter bursts every 1-2 h; assumption", log=True),
        "median_duration_s": Range(30.0, 600.0, f"{_DATA}: Twitter bursts ~7 min; assumption", log=True),
        "max_multiplier": Range(50.0, 50.0, f"{_DATA}: LoRA peak/mean 79; a cap keeps the peak finite"),
    },
    "periodic_spikes": {
        "base_rps": BASE,
        "period_s": Range(
            60.0, 7200.0, "Shahrad et al. 2020: timer triggers, minute to hour periods", log=True
        ),
        "phase_frac": Range(0.0, 1.0, "uniform: no phase is special"),
        "width_frac": Range(0.02, 0.25, f"{_DATA}: Twitter ~7 min bursts every 1-2 h = 0.06-0.12"),
        "multiplier": Range(2.0, 10.0, f"{_DATA}: Twitter bursts 3-5x; NASA launch 10x", log=True),
    },
    "from_zero": {
        "base_rps": BASE,
        "mean_idle_s": Range(120.0, 1800.0, "Shahrad et al. 2020: idle minutes to an hour", log=True),
        "mean_active_s": Range(30.0, 600.0, f"{_DATA}: LoRA sessions of minutes", log=True),
        "level_sigma": Range(0.0, 1.0, "assumption: lognormal spread of session rates"),
    },
    "step_start": {
        "base_rps": BASE,
        "step_at_s": Range(30.0, 600.0, "issue 13: load triples in the first minutes of an hour"),
        "rise_s": Range(0.0, 180.0, "issue 13: within three minutes"),
        "factor": Range(1.5, 6.0, "issue 13: x3; assumption around it", log=True),
        "down_probability": Range(0.25, 0.25, "assumption: a quarter of the steps go down (/factor)"),
    },
    "per_second_noise": {
        "base_rps": BASE,
        "sigma": Range(0.05, 0.5, "assumption: per-second log-rate spread of a steady service"),
        "correlation_s": Range(1.0, 30.0, "assumption: per-second noise forgotten within 30 s", log=True),
    },
}
#: Largest rate of each kind as a multiple of ``base_rps`` (the module table; tests check it).
PEAK_MULTIPLE: dict[str, Callable[[Mapping[str, float]], float]] = {
    "mmpp": lambda p: p["level_ratio"],
    "heavy_tail": lambda p: 1.0 + p["max_multiplier"],
    "periodic_spikes": lambda p: p["multiplier"],
    "from_zero": lambda p: math.exp(3.0 * p["level_sigma"]),
    "step_start": lambda p: p["factor"],
    "per_second_noise": lambda p: math.exp(3.0 * p["sigma"]),
}


def draw_parameters(kind: str, seed: int, **overrides: float) -> dict[str, float]:
    """The parameters ``kind`` uses at ``seed``: every range drawn in order, then overrides."""
    if kind not in PARAMETER_RANGES:
        raise TraceError(f"unknown bursty kind {kind!r}; known: {sorted(PARAMETER_RANGES)}")
    ranges = PARAMETER_RANGES[kind]
    unknown = sorted(set(overrides) - set(ranges))
    if unknown:
        raise TraceError(f"synthetic {kind!r}: unknown parameter(s) {unknown}; known: {list(ranges)}")
    rng = seed_streams(seed)[0]
    drawn = {name: r.draw(rng) for name, r in ranges.items()}
    drawn.update({k: ranges[k].check(kind, k, v) for k, v in overrides.items()})
    if kind == "mmpp" and drawn["dwell_min_s"] > drawn["dwell_max_s"]:
        raise TraceError(f"synthetic 'mmpp': dwell_min_s {drawn['dwell_min_s']:g} > dwell_max_s")
    if kind == "step_start" and not 0 <= drawn["down_probability"] <= 1:
        raise TraceError("synthetic 'step_start': down_probability must be in [0, 1]")
    return drawn


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The (parameter, event) generators of ``seed``: independent, so overrides keep draws."""
    params, events = np.random.SeedSequence(int(seed)).spawn(2)
    return np.random.default_rng(params), np.random.default_rng(events)


def fine_grid(steps: int, step_s: float) -> tuple[int, float]:
    """Sub-steps per step and the fine step (1 s where the step is whole seconds)."""
    if int(steps) != steps or steps < 1:
        raise TraceError(f"synthetic: steps must be a positive integer, got {steps}")
    if not (math.isfinite(step_s) and step_s > 0):
        raise TraceError(f"synthetic: step_s must be > 0, got {step_s}")
    per_step = max(1, min(round(step_s), MAX_FINE_SAMPLES // int(steps)))
    return per_step, step_s / per_step


# ------------------------------------------------------------------ event processes
def mmpp_path(
    p: Mapping[str, float], total_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Switch times (s, first 0) and state indices of the MMPP's hidden chain.

    State ``k`` of ``K`` has rate ``base · level_ratio^(k/(K−1))`` and exponential dwell
    times whose mean is drawn log-uniformly in [dwell_min_s, dwell_max_s]; on leaving, the
    chain jumps to a uniformly chosen other state. It starts in a uniform random state.
    """
    k = int(p["states"])
    means = _dwell_means(p, rng)
    times, states = [0.0], [int(rng.integers(k))]
    while True:
        t = times[-1] + rng.exponential(means[states[-1]])
        if t >= total_s:
            return np.asarray(times), np.asarray(states)
        times.append(t)
        states.append((states[-1] + 1 + int(rng.integers(k - 1))) % k)


def _dwell_means(p: Mapping[str, float], rng: np.random.Generator) -> np.ndarray:
    lo, hi = math.log(p["dwell_min_s"]), math.log(p["dwell_max_s"])
    return np.exp(rng.uniform(lo, hi, size=int(p["states"])))


def mmpp_dwell_means(p: Mapping[str, float], seed: int) -> np.ndarray:
    """The per-state mean dwell times ``mmpp`` draws at ``seed`` (its first event draws)."""
    return _dwell_means(p, seed_streams(seed)[1])


def heavy_tail_bursts(
    p: Mapping[str, float], total_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Burst start times (Poisson, mean gap ``mean_gap_s``), sizes (Pareto(alpha) multiples
    of the base, scale 1, capped at ``max_multiplier``) and lognormal durations (median
    ``median_duration_s``, log-sd 1)."""
    n = int(rng.poisson(total_s / p["mean_gap_s"])) + 1
    starts = np.sort(rng.uniform(0.0, total_s, size=n))
    sizes = np.minimum(rng.pareto(p["alpha"], size=n) + 1.0, p["max_multiplier"])
    durations = p["median_duration_s"] * np.exp(rng.standard_normal(n))
    return starts, sizes, durations


def on_off_sessions(
    p: Mapping[str, float], total_s: float, first_idle_min_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Session starts, ends and rate levels of a source idle at rate 0 in between. The first
    idle period lasts at least ``first_idle_min_s`` (the series starts at 0: a burst from
    zero) and at most half the span where that is longer (so a series has a burst)."""
    starts, ends, levels = [], [], []
    t = max(min(rng.exponential(p["mean_idle_s"]), 0.5 * total_s), first_idle_min_s)
    while t < total_s:
        d = rng.exponential(p["mean_active_s"])
        starts.append(t)
        ends.append(t + d)
        level = math.exp(p["level_sigma"] * min(max(rng.standard_normal(), -3.0), 3.0))
        levels.append(p["base_rps"] * level)
        t += d + rng.exponential(p["mean_idle_s"])
    return np.asarray(starts), np.asarray(ends), np.asarray(levels)


#: Samples per block of the AR(1) filter: the block's kernel is _AR_BLOCK² floats.
_AR_BLOCK = 256


def ar1(eps: np.ndarray, a: float, x_prev: float) -> np.ndarray:
    """``x_i = a·x_{i−1} + eps_i`` from ``x_{−1} = x_prev``, in blocks of :data:`_AR_BLOCK`
    (a matrix product inside a block, a carry between blocks: no per-sample Python loop)."""
    n = eps.size
    nb = -(-n // _AR_BLOCK)
    padded = np.zeros(nb * _AR_BLOCK)
    padded[:n] = eps
    lag = np.arange(_AR_BLOCK)[:, None] - np.arange(_AR_BLOCK)[None, :]
    kernel = np.where(lag >= 0, a ** np.maximum(lag, 0), 0.0)
    local = padded.reshape(nb, _AR_BLOCK) @ kernel.T  # response to each block's own noise
    decay = a ** np.arange(1, _AR_BLOCK + 1)
    for b in range(nb):
        local[b] += x_prev * decay
        x_prev = local[b, -1]
    return local.ravel()[:n]


# ------------------------------------------------------------------ rendering on the fine grid
# Each renderer: (parameters, fine times t (s), the series' step (s), event stream) -> rate at t.
Renderer = Callable[[Mapping[str, float], np.ndarray, float, np.random.Generator], np.ndarray]


def _span_s(t: np.ndarray, step_s: float) -> float:
    return float(t[-1] + (t[1] - t[0] if t.size > 1 else step_s))


def _mmpp(p: Mapping[str, float], t: np.ndarray, step_s: float, rng: np.random.Generator) -> np.ndarray:
    times, states = mmpp_path(p, _span_s(t, step_s), rng)
    k = int(p["states"])
    levels = p["base_rps"] * p["level_ratio"] ** (np.arange(k) / (k - 1))
    return levels[states[np.searchsorted(times, t, side="right") - 1]]


def _heavy_tail(p: Mapping[str, float], t: np.ndarray, step_s: float, rng: np.random.Generator) -> np.ndarray:
    base = p["base_rps"]
    out = np.full(t.size, base)
    for s, a, d in zip(*heavy_tail_bursts(p, _span_s(t, step_s), rng), strict=True):
        i, j = np.searchsorted(t, [s, s + 8.0 * d])  # beyond 8 time constants: < 0.04 %
        out[i:j] += base * a * np.exp(-(t[i:j] - s) / d)
    return np.minimum(out, base * (1.0 + p["max_multiplier"]))


def _periodic_spikes(
    p: Mapping[str, float], t: np.ndarray, step_s: float, rng: np.random.Generator
) -> np.ndarray:
    period = p["period_s"]
    phase = (t - p["phase_frac"] * period) % period
    return np.where(phase < p["width_frac"] * period, p["base_rps"] * p["multiplier"], p["base_rps"])


def _from_zero(p: Mapping[str, float], t: np.ndarray, step_s: float, rng: np.random.Generator) -> np.ndarray:
    starts, ends, levels = on_off_sessions(p, _span_s(t, step_s), max(FIRST_IDLE_MIN_S, step_s), rng)
    if not starts.size:
        return np.zeros(t.size)
    i = np.maximum(np.searchsorted(starts, t, side="right") - 1, 0)
    return np.where((t >= starts[0]) & (t < ends[i]), levels[i], 0.0)


def _step_start(p: Mapping[str, float], t: np.ndarray, step_s: float, rng: np.random.Generator) -> np.ndarray:
    base = p["base_rps"]
    up = rng.uniform() >= p["down_probability"]
    before, after = (base, base * p["factor"]) if up else (base * p["factor"], base)
    frac = np.clip((t - p["step_at_s"]) / max(p["rise_s"], 1e-9), 0.0, 1.0)
    return before + (after - before) * frac


def _per_second_noise(
    p: Mapping[str, float], t: np.ndarray, step_s: float, rng: np.random.Generator
) -> np.ndarray:
    a = math.exp(-(t[1] - t[0] if t.size > 1 else step_s) / p["correlation_s"])
    x_prev = rng.standard_normal()  # stationary start
    x = ar1(rng.standard_normal(t.size) * math.sqrt(1.0 - a * a), a, x_prev)
    return p["base_rps"] * np.exp(p["sigma"] * np.clip(x, -3.0, 3.0))


RENDERERS: dict[str, Renderer] = {
    "mmpp": _mmpp,
    "heavy_tail": _heavy_tail,
    "periodic_spikes": _periodic_spikes,
    "from_zero": _from_zero,
    "step_start": _step_start,
    "per_second_noise": _per_second_noise,
}


def generate(
    kind: str, steps: int, step_s: float = DEFAULT_STEP_S, seed: int = 0, **overrides: float
) -> np.ndarray:
    """Rate series (req/s) of bursty ``kind`` at ``seed`` (see the module docstring)."""
    per_step, fine_s = fine_grid(steps, step_s)
    p = draw_parameters(kind, seed, **overrides)
    t = np.arange(int(steps) * per_step) * fine_s
    fine = RENDERERS[kind](p, t, float(step_s), seed_streams(seed)[1])
    return fine.reshape(int(steps), per_step).mean(axis=1)


def _generator(kind: str) -> Callable[..., np.ndarray]:
    def fn(steps: int, step_s: float = DEFAULT_STEP_S, seed: int = 0, **overrides: float) -> np.ndarray:
        return generate(kind, steps, step_s, seed, **overrides)

    fn.__name__ = kind
    fn.__doc__ = f"Bursty kind {kind!r}: parameters drawn from PARAMETER_RANGES[{kind!r}] (module docstring)."
    return fn


BURST_GENERATORS: dict[str, Callable[..., np.ndarray]] = {kind: _generator(kind) for kind in PARAMETER_RANGES}
