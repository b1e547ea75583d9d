"""The live control loop for one target: read the scale → read the metrics → signals and
observation → policy → safety guard → patch (unless dry run) → log.

Every fault is survived: an exception from the metrics source, the policy or the actuator is
caught, counted in ``rlscale_errors_total{kind}``, recorded as a reason on the decision, and
the next period runs as usual. A restarted controller picks up where the old one stopped: the
replica count is re-read from the cluster every period (the guard seeds its stabilisation
window with it, like the HPA), and :meth:`Controller.warm_up` replays the load history the
observation needs (trend, forecast input, peak memory) from Prometheus.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from rlscale.controller.decision_log import DecisionLog
from rlscale.controller.telemetry import ControllerMetrics, policy_version
from rlscale.core.clock import Clock, SystemClock
from rlscale.core.decision import Decision, Reason
from rlscale.core.observation import OBSERVATION_FEATURES, PEAK_MEMORY_S, ObservationBuilder
from rlscale.core.signals import OPTIONAL_SIGNAL_FIELDS, ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.prometheus.client import PrometheusError, samples_on_grid
from rlscale.safety.guard import Guard, GuardInput

# HPA event reasons for the same failures (pkg/controller/podautoscaler/horizontal.go)
FAILED_GET_SCALE = "FailedGetScale"
FAILED_GET_METRICS = "FailedGetMetrics"
FAILED_RESCALE = "FailedRescale"
SUCCESSFUL_RESCALE = "SuccessfulRescale"

#: Signals without which a decision is not trusted (the guard holds or follows the HPA up).
#: Latency and backlog are optional: many exporters do not have them.
DEFAULT_REQUIRED_SIGNALS: tuple[str, ...] = ("request_rate_rps", "cpu_utilization", "ready_replicas")

_SIGNAL_FIELDS = ScalingSignals.field_names()
#: How much request-rate history a (re)started controller replays: two peak-memory time
#: constants, after which a forgotten peak would have decayed to e^-2 ≈ 14 % anyway.
WARM_UP_S = 2 * PEAK_MEMORY_S

log = logging.getLogger(__name__)


class MetricsSource(Protocol):
    """``read(namespace, deployment)`` returns a reading with ``.signals`` (a batch of one) and
    per-signal health (see :func:`stale_signals_of`)."""

    def read(self, namespace: str, deployment: str) -> Any: ...


class ScaleActuator(Protocol):
    """Reads and writes a Deployment's ``scale`` subresource."""

    def get_replicas(self, namespace: str, name: str) -> int: ...

    def set_replicas(self, namespace: str, name: str, replicas: int) -> Any: ...


def stale_signals_of(reading: Any) -> tuple[str, ...]:
    """Names of the signals a source reading marks unhealthy (stale, NaN, empty, timed out,
    HTTP error), plus any signal whose value is NaN, infinite or negative (every reading is a
    count, rate, fraction or duration: a negative one is a broken exporter, not no load)."""
    bad: set[str] = set()
    health = getattr(reading, "health", None)
    if isinstance(health, dict):
        for name, h in health.items():
            ok = h if isinstance(h, bool) else getattr(h, "ok", None)
            if ok is None and isinstance(h, str):
                ok = h.lower() in ("ok", "fresh", "healthy")
            if name in OPTIONAL_SIGNAL_FIELDS and getattr(h, "reason", None) == "unconfigured":
                continue
            if ok is False or ok is None:
                bad.add(str(name))
    signals = getattr(reading, "signals", None)
    if isinstance(signals, ScalingSignals):
        for name in _SIGNAL_FIELDS:
            if name == "time_s" or name in OPTIONAL_SIGNAL_FIELDS:
                continue
            values = np.asarray(getattr(signals, name), dtype=np.float64)
            if not np.all(np.isfinite(values) & (values >= 0)):
                bad.add(name)
    return tuple(sorted(bad))


def metrics_age_of(reading: Any) -> float | None:
    """Seconds since the newest sample of the target (the source's freshness), if it knows."""
    ages = [
        h.age_s
        for h in (getattr(reading, "health", None) or {}).values()
        if getattr(h, "age_s", None) is not None
    ]
    return max(ages) if ages else None


def _unhealthy_reasons(reading: Any) -> dict[str, str]:
    """``{signal: why}`` for the unhealthy signals of a reading (``SourceReading.unhealthy``)."""
    unhealthy = getattr(reading, "unhealthy", None)
    if callable(unhealthy):
        try:
            return {str(k): str(v) for k, v in unhealthy().items()}
        except Exception:
            return {}
    return {}


def _unknown_signals(time_s: float, current: int) -> ScalingSignals:
    values = {name: math.nan for name in _SIGNAL_FIELDS}
    values.update(time_s=time_s, desired_replicas=float(current))
    return ScalingSignals.single(**values)


#: The reason code for a policy that gives no reasons of its own (rule-based baselines).
POLICY_PROPOSAL = "PolicyProposal"


def policy_reasons_of(policy: Any, proposal: Any, inputs: dict[str, float]) -> tuple[Reason, ...]:
    """The policy's own reasons for its last proposal (``policy.explain()``, e.g. what a learned
    ``hold_target`` policy sized for); a policy without them gets one reason naming it and the
    inputs it saw. Never raises: an explanation must not cost a decision."""
    explain = getattr(policy, "explain", None)
    if explain is not None:
        try:
            reasons = tuple(explain())
        except Exception as exc:
            log.warning("%s: explain() failed: %s", getattr(policy, "name", policy), _describe(exc))
            reasons = ()
        if reasons:
            return reasons
    try:
        proposed: int | None = int(np.asarray(proposal).reshape(-1)[0])
    except (TypeError, ValueError, IndexError, OverflowError):  # inf: no count to name
        proposed = None
    seen = ", ".join(
        f"{name} {inputs[name]:.3g}"
        for name in ("request_rate_rps", "cpu_utilization", "ready_replicas")
        if name in inputs and math.isfinite(inputs[name])
    )
    name = getattr(policy, "name", type(policy).__name__)
    return (
        Reason(
            POLICY_PROPOSAL, f"{name} proposed {proposed} from {seen or 'no fresh signals'}", None, proposed
        ),
    )


def _scalar(x: Any) -> float:
    return float(np.asarray(x, dtype=np.float64).reshape(-1)[0])


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


class Controller:
    """One target's reconcile loop. Inject the pieces (a clock, a source, an actuator, a
    policy, a guard), so the same code runs against a real cluster, the emulator, or fakes.

    ``fallback`` is the ``hpa`` policy the guard falls back to when the policy fails;
    ``required_signals`` are the signals whose staleness makes the guard hold.
    """

    def __init__(
        self,
        *,
        namespace: str,
        deployment: str,
        spec: ServiceSpec,
        source: MetricsSource,
        policy: Policy,
        guard: Guard,
        actuator: ScaleActuator,
        clock: Clock | None = None,
        logger: DecisionLog | None = None,
        metrics: ControllerMetrics | None = None,
        fallback: Policy | None = None,
        required_signals: Sequence[str] = DEFAULT_REQUIRED_SIGNALS,
        window_store: Any = None,
    ) -> None:
        unknown = set(required_signals) - set(_SIGNAL_FIELDS)
        if unknown:
            raise ValueError(
                f"required_signals: unknown signal names {sorted(unknown)}; known: {_SIGNAL_FIELDS}"
            )
        self.namespace = namespace
        self.deployment = deployment
        self.target = f"{namespace}/{deployment}"
        self.spec = spec
        self.source = source
        self.policy = policy
        self.guard = guard
        self.actuator = actuator
        self.clock = clock if clock is not None else SystemClock()
        self.logger = logger
        self.metrics = metrics if metrics is not None else ControllerMetrics()
        self.fallback = fallback
        self.required_signals = tuple(required_signals)
        # with the policy's forecaster, so the logged observation is the one a learned policy sees
        self.observations = ObservationBuilder(
            spec, num_envs=1, forecaster=getattr(policy, "forecaster", None)
        )
        self.last_observation: np.ndarray | None = None
        self.last_decision: Decision | None = None
        self._last_known_replicas: int | None = None
        self._policy_labelled: tuple[str, int] | None = None
        #: keeps the downscale window across restarts (``save(records)``; window_store.py)
        self.window_store = window_store
        self._saved_window: list[tuple[float, int]] | None = None
        self._start_s = self.clock.now()
        self.decisions_made = 0

    # -- start-up ----------------------------------------------------------------------------
    def warm_up(self, duration_s: float = WARM_UP_S) -> int:
        """Replay the last ``duration_s`` of the request rate (the source's ``history``) into
        the controller's and the policy's load history, so a restart keeps the trend, the
        forecast input and the peak memory (a learned policy's floor) instead of starting
        blank. Best effort: without history, or when the query fails, they start cold as
        before (counted as ``rlscale_errors_total{kind="warm_up"}``). A policy that loads only
        later (:class:`~rlscale.controller.policy_loader.ReloadingPolicy`) is handed
        :meth:`load_history` to warm itself when it does. Returns the periods replayed."""
        if hasattr(self.policy, "warm_from"):
            self.policy.warm_from = lambda: self.load_history(duration_s)
        rates = self.load_history(duration_s)
        if rates is None:
            return 0
        replayed = self.observations.warm(rates)
        warm = getattr(self.policy, "warm", None)
        if warm is not None:
            warm(rates)
        log.info("%s: replayed %d periods of request-rate history", self.target, replayed)
        return replayed

    def load_history(self, duration_s: float = WARM_UP_S) -> np.ndarray | None:
        """The request rate of the ``duration_s`` before the current period, one value per
        period (NaN where Prometheus has none); None without history or when the query fails."""
        history = getattr(self.source, "history", None)
        step_s = self.spec.step_s
        periods = int(duration_s // step_s)
        if history is None or periods < 1:
            return None
        # the periods before this one: the next reconcile reads "now" itself
        end_s = time.time() - step_s
        try:
            samples = history(
                self.namespace, self.deployment, "request_rate_rps", (periods - 1) * step_s, step_s, end_s
            )
        except (PrometheusError, ValueError) as exc:
            self.metrics.errors.labels(kind="warm_up").inc()
            log.warning(
                "%s: no load history to warm up from (%s); starting cold", self.target, _describe(exc)
            )
            return None
        return samples_on_grid(samples, end_s - (periods - 1) * step_s, step_s, periods)

    # -- the downscale window across restarts ----------------------------------------------
    def recent_recommendations(self) -> list[tuple[float, int]]:
        """The guard's downscale-window state as ``(clock seconds, replicas)``, to persist."""
        return [(t + self._start_s, r) for t, r in self.guard.stabilize.recommendations()]

    def restore_recommendations(self, records: list[tuple[float, int]]) -> None:
        """Continue the downscale window from :meth:`recent_recommendations` of an earlier
        controller (a restart or a new leader), so no extra window of pods is held."""
        self.guard.stabilize.restore([(t - self._start_s, r) for t, r in records])
        self._saved_window = list(records)

    def _save_window(self) -> None:
        """Write the window to :attr:`window_store` when it changed; a failure is counted, not raised."""
        records = self.recent_recommendations()
        if self.window_store is None or records == self._saved_window:
            return
        try:
            self.window_store.save(records)
            self._saved_window = records
        except Exception as exc:
            self.metrics.errors.labels(kind="window_store").inc()
            log.warning("%s: downscale window not saved: %s", self.target, _describe(exc))

    # -- one period ------------------------------------------------------------------------
    def reconcile_once(self) -> Decision:
        started = time.perf_counter()
        now_s = self.clock.now() - self._start_s
        extra: list[Reason] = []
        errors: list[str] = []

        # 1. the scale subresource: the cluster's truth about the current replicas
        try:
            current = int(self.actuator.get_replicas(self.namespace, self.deployment))
            self._last_known_replicas = current
        except Exception as exc:  # the loop survives every fault
            return self._cannot_read_scale(now_s, exc, started)

        # 2. metrics
        stale: tuple[str, ...]
        health: dict[str, str] = {}
        try:
            reading = self.source.read(self.namespace, self.deployment)
            signals = reading.signals
            if not isinstance(signals, ScalingSignals) or signals.num_envs != 1:
                raise TypeError(
                    f"metrics source returned {type(signals).__name__}, not ScalingSignals of one"
                )
            why = _unhealthy_reasons(reading)
            stale = tuple(
                f"{s} ({why[s]})" if s in why else s
                for s in stale_signals_of(reading)
                if s in self.required_signals
            )
            health = why
            self.metrics.record_metrics_age(self.target, metrics_age_of(reading))
        except Exception as exc:
            self.metrics.errors.labels(kind="metrics").inc()
            errors.append(f"metrics: {_describe(exc)}")
            extra.append(
                Reason(FAILED_GET_METRICS, f"reading metrics failed: {_describe(exc)}", current, current)
            )
            signals = _unknown_signals(now_s, current)
            stale = self.required_signals
        # the scale subresource is authoritative for desired replicas; time is the controller's
        signals = dataclasses.replace(
            signals,
            time_s=np.asarray([now_s], dtype=np.float64),
            desired_replicas=np.asarray([float(current)], dtype=np.float64),
        )
        self.last_observation = self.observations.build(signals)[0]

        # 3. policy, and the HPA it falls back to
        proposal: Any = None
        policy_error: str | None = None
        try:
            proposal = self.policy.act(signals)
        except Exception as exc:
            policy_error = _describe(exc)
            self.metrics.errors.labels(kind="policy").inc()
            errors.append(f"policy: {policy_error}")
        fallback_proposal: Any = None
        if self.fallback is not None:
            try:
                fallback_proposal = self.fallback.act(signals)
            except Exception as exc:
                self.metrics.errors.labels(kind="fallback").inc()
                errors.append(f"fallback: {_describe(exc)}")

        # 4. guard
        inputs = {name: _scalar(getattr(signals, name)) for name in _SIGNAL_FIELDS}
        policy_reasons = policy_reasons_of(self.policy, proposal, inputs) if policy_error is None else ()
        decision = self.guard.review(
            GuardInput(
                time_s=now_s,
                current_replicas=current,
                proposal=proposal,
                policy_error=policy_error,
                stale_signals=stale,
                fallback_proposal=fallback_proposal,
                inputs=inputs,
            )
        )

        # 5. actuate
        patched = False
        if not decision.dry_run and decision.final_replicas != current:
            try:
                self.actuator.set_replicas(self.namespace, self.deployment, decision.final_replicas)
                patched = True
                self._last_known_replicas = decision.final_replicas
            except Exception as exc:
                self.metrics.errors.labels(kind="actuator").inc()
                errors.append(f"actuator: {_describe(exc)}")
                extra.append(
                    Reason(FAILED_RESCALE, f"patching the scale failed: {_describe(exc)}", current, current)
                )
        decision = dataclasses.replace(
            decision, reasons=tuple(extra) + decision.reasons, policy_reasons=policy_reasons
        )
        return self._finish(decision, started, patched=patched, errors=errors, health=health)

    def _cannot_read_scale(self, now_s: float, exc: BaseException, started: float) -> Decision:
        """Without the current replica count nothing may be written: hold (no patch)."""
        self.metrics.errors.labels(kind="scale_read").inc()
        known = self._last_known_replicas if self._last_known_replicas is not None else -1
        decision = Decision(
            time_s=now_s,
            current_replicas=known,
            proposed_replicas=-1,
            final_replicas=known,
            reasons=(Reason(FAILED_GET_SCALE, f"reading the scale failed: {_describe(exc)}", known, known),),
            dry_run=self.guard.config.dry_run,
        )
        return self._finish(decision, started, patched=False, errors=[f"scale_read: {_describe(exc)}"])

    def _finish(
        self,
        decision: Decision,
        started: float,
        *,
        patched: bool,
        errors: list[str],
        health: dict[str, str] | None = None,
    ) -> Decision:
        latency_s = time.perf_counter() - started
        m = self.metrics
        policy_name = getattr(self.policy, "name", type(self.policy).__name__)
        m.record_decision(self.target, decision, decision.inputs, (health or {}).keys(), latency_s)
        acting = (policy_name, id(getattr(self.policy, "inner", None) or self.policy))  # reloads change it
        if acting != self._policy_labelled:
            m.record_policy(
                self.target,
                policy_name,
                policy_version(self.policy),
                self.spec.slo_latency_s,
                self.spec.slo_budget,
            )
            self._policy_labelled = acting
        self.last_decision = decision
        self.decisions_made += 1
        self._save_window()
        if self.logger is not None:
            record = {
                "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
                "target": self.target,
                "policy": policy_name,
                **decision.to_dict(),
                "patched": patched,
                "errors": errors,
                "unhealthy_signals": health or {},
                "latency_s": latency_s,
                # labelled by feature name, in the layout's order (the values are the array to replay)
                "observation": None
                if self.last_observation is None
                else dict(zip(OBSERVATION_FEATURES, self.last_observation.tolist(), strict=True)),
            }
            try:
                self.logger.write(record)
            except Exception:  # a full disk must not stop scaling
                m.errors.labels(kind="log").inc()
        return decision

    # -- the loop --------------------------------------------------------------------------
    def run_forever(
        self, interval_s: float, stop_event: threading.Event | None = None, max_decisions: int | None = None
    ) -> int:
        """Reconcile every ``interval_s`` seconds (on the controller's clock) until
        ``stop_event`` is set or ``max_decisions`` were made; returns the number made."""
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        stop = stop_event if stop_event is not None else threading.Event()
        made = 0
        next_s = self.clock.now()
        while not stop.is_set() and (max_decisions is None or made < max_decisions):
            try:
                self.reconcile_once()
            except Exception:  # belt and braces: reconcile_once already catches
                self.metrics.errors.labels(kind="loop").inc()
            made += 1
            next_s += interval_s
            wait_s = next_s - self.clock.now()
            if wait_s < 0:  # fell behind (a slow API): skip ahead rather than burst
                next_s = self.clock.now()
                wait_s = 0.0
            if isinstance(self.clock, SystemClock):
                if stop.wait(wait_s):
                    break
            else:
                self.clock.sleep(wait_s)
        return made
