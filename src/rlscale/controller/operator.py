"""``rlscale operator``: a kopf operator that runs one live control loop per ``RLAutoscaler``.

The operator is thin wiring (DESIGN.md §8): for each custom resource a kopf daemon turns the
spec into the same :class:`~rlscale.controller.app.RunConfig` that ``rlscale run`` takes,
builds the same :class:`~rlscale.controller.loop.Controller` (Prometheus source, policy,
HPA fallback, safety guard, scale actuator) with :func:`~rlscale.controller.app.build_controller`,
and calls ``reconcile_once`` every ``spec.intervalSeconds``. What it adds is what a custom
resource needs: spec validation with the CRD's schema (a bad spec is reported in status and
events and never scales anything), status with the last decision and HPA-style conditions,
Kubernetes events on scale, and leader election over a Lease so that of several replicas
exactly one acts (:mod:`rlscale.controller.operator_lease`).

kopf runs standalone (no KopfPeering): followers keep watching and keep their daemons
alive, but a daemon does nothing while its replica is not the leader, and the actuator
refuses a write from a non-leader as a last line of defence.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rlscale.controller.app import RunConfig, build_controller, make_actuator
from rlscale.controller.crd import (
    CONDITION_ABLE_TO_SCALE,
    CONDITION_SCALING_ACTIVE,
    CONDITION_SCALING_LIMITED,
    CONDITION_SPEC_VALID,
    GROUP,
    PLURAL,
    VERSION,
    RLAutoscalerSpec,
    SpecError,
    spec_problems,
)
from rlscale.controller.decision_log import DecisionLog
from rlscale.controller.loop import Controller
from rlscale.controller.operator_config import OperatorConfig
from rlscale.controller.operator_lease import LeaseElector
from rlscale.controller.run_config import IN_CLUSTER
from rlscale.controller.telemetry import ControllerMetrics
from rlscale.core.clock import Clock, SystemClock
from rlscale.core.decision import Decision

log = logging.getLogger(__name__)

#: Finalizer kopf puts on each RLAutoscaler while its daemon runs (kopf needs one for daemons).
FINALIZER = "rlscale.io/operator"
#: The ``source.component`` / ``reportingComponent`` of the operator's events.
EVENT_COMPONENT = "rlscale-operator"
#: Condition states worth a Warning event when entered (the HPA's unhealthy states);
#: ScalingLimited=False ("DesiredWithinRange") and SpecValid (own event) are not.
WARNING_STATES: frozenset[tuple[str, str]] = frozenset(
    {(CONDITION_ABLE_TO_SCALE, "False"), (CONDITION_SCALING_ACTIVE, "False")}
)

# HPA reasons (pkg/controller/podautoscaler/horizontal.go) and the guard's codes they map to.
_LIMIT_CODES = ("TooFewReplicas", "TooManyReplicas", "ScaleUpLimit", "ScaleDownLimit")
_METRICS_FAILURE_CODES = ("FailedGetMetrics", "StaleMetrics")


class NotLeaderError(RuntimeError):
    """A replica that is not (or no longer) the leader tried to patch a scale."""


# --------------------------------------------------------------------------------------
# Configuration


class ScaledClock:
    """A clock running ``scale`` times faster than ``base``: the controller sees emulated
    seconds when the emulator runs faster than real time."""

    def __init__(self, scale: float, base: Clock | None = None) -> None:
        self.scale = float(scale)
        self.base = base or SystemClock()

    def now(self) -> float:
        return self.base.now() * self.scale

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds / self.scale)


def run_config_for(spec: RLAutoscalerSpec, namespace: str, config: OperatorConfig) -> RunConfig:
    """The ``rlscale run`` configuration of one CR (one behaviour whichever way the loop
    runs). Raises :class:`SpecError` naming the CR's fields."""
    values = {"prometheus_url": config.prometheus_url, **spec.settings}
    if values["prometheus_url"] is None:
        raise SpecError(["spec.metrics.prometheusUrl: unset, and the operator has no --prometheus default"])
    run = RunConfig(namespace=namespace, kubeconfig=config.kubeconfig, **values)
    try:
        return run.validate()
    except ValueError as exc:
        raise SpecError(spec_problems(exc)) from None


# --------------------------------------------------------------------------------------
# Status


def _rfc3339(when: dt.datetime | None = None) -> str:
    when = when or dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def summarize(decision: Decision) -> str:
    """One line for the printer column: ``3->5 (PolicySizedForLoad,ScaleUpLimit)``: the policy's
    first reason, then the guard's."""
    codes = [r.code for r in decision.policy_reasons[:1]] + [r.code for r in decision.reasons]
    return f"{decision.current_replicas}->{decision.final_replicas} ({','.join(dict.fromkeys(codes)) or 'NoChange'})"


def explain(decision: Decision) -> str:
    """The event text's reasons: the policy's own, then the guard's."""
    policy = "; ".join(r.message for r in decision.policy_reasons) or "none given"
    guard = "; ".join(f"{r.code}: {r.message}" for r in decision.reasons) or "no guard intervention"
    return f"policy: {policy}; guard: {guard}"


def _reason_status(reasons: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in r.to_dict().items() if v is not None} | {"message": r.message[:1024]}
        for r in reasons
    ]


def scaled(decision: Decision) -> bool:
    """Whether the decision was written to the scale subresource."""
    failed = any(r.code in ("FailedRescale", "FailedGetScale") for r in decision.reasons)
    return decision.changed and not decision.dry_run and not failed


def held_scale_down(decision: Decision) -> bool:
    """The policy asked for fewer pods and the guard kept more (stabilisation, rate limit)."""
    return 0 <= decision.proposed_replicas < decision.current_replicas and not decision.changed


def decision_conditions(decision: Decision) -> dict[str, tuple[str, str, str]]:
    """HPA-style conditions ``type -> (status, reason, message)`` for one decision."""
    codes = {r.code: r.message for r in decision.reasons}
    out: dict[str, tuple[str, str, str]] = {}
    if "FailedGetScale" in codes:
        out[CONDITION_ABLE_TO_SCALE] = ("False", "FailedGetScale", codes["FailedGetScale"])
    elif "FailedRescale" in codes:
        out[CONDITION_ABLE_TO_SCALE] = ("False", "FailedUpdateScale", codes["FailedRescale"])
    elif decision.dry_run:
        out[CONDITION_ABLE_TO_SCALE] = (
            "True",
            "DryRun",
            "dryRun is set: decisions are recorded, never applied",
        )
    elif "ScaleDownStabilized" in codes:
        out[CONDITION_ABLE_TO_SCALE] = ("True", "ScaleDownStabilized", codes["ScaleDownStabilized"])
    elif scaled(decision):
        out[CONDITION_ABLE_TO_SCALE] = (
            "True",
            "SucceededRescale",
            f"the scale was updated to {decision.final_replicas}",
        )
    else:
        out[CONDITION_ABLE_TO_SCALE] = ("True", "ReadyForNewScale", "recommended size matches current size")
    failing = [c for c in _METRICS_FAILURE_CODES if c in codes]
    if failing:
        out[CONDITION_SCALING_ACTIVE] = ("False", "FailedGetMetrics", codes[failing[0]])
    elif "FailedGetScale" not in codes:
        out[CONDITION_SCALING_ACTIVE] = ("True", "ValidMetricFound", "the policy decided from fresh metrics")
    limits = [c for c in _LIMIT_CODES if c in codes]
    if limits:
        out[CONDITION_SCALING_LIMITED] = ("True", limits[0], codes[limits[0]])
    else:
        out[CONDITION_SCALING_LIMITED] = (
            "False",
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        )
    return out


def merge_conditions(
    previous: list[Mapping[str, Any]] | None, updates: Mapping[str, tuple[str, str, str]], now: str
) -> list[dict[str, Any]]:
    """New condition list: ``lastTransitionTime`` moves only when a status flips (API conventions)."""
    by_type = {c["type"]: dict(c) for c in previous or [] if isinstance(c, Mapping) and "type" in c}
    for kind, (status, reason, message) in updates.items():
        old = by_type.get(kind)
        transition = now if old is None or old.get("status") != status else old.get("lastTransitionTime", now)
        by_type[kind] = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message[:1024],
            "lastTransitionTime": transition,
        }
    order = [
        CONDITION_SPEC_VALID,
        CONDITION_ABLE_TO_SCALE,
        CONDITION_SCALING_ACTIVE,
        CONDITION_SCALING_LIMITED,
    ]
    return sorted(
        by_type.values(), key=lambda c: order.index(c["type"]) if c["type"] in order else len(order)
    )


def decision_status(decision: Decision, decisions: int, generation: int | None) -> dict[str, Any]:
    """The status fields of one decision (conditions are merged separately)."""
    status: dict[str, Any] = {
        "currentReplicas": decision.current_replicas,
        "desiredReplicas": decision.final_replicas,
        "decisions": decisions,
        "lastDecision": {
            "time": _rfc3339(),
            "currentReplicas": decision.current_replicas,
            "proposedReplicas": decision.proposed_replicas,
            "finalReplicas": decision.final_replicas,
            "dryRun": decision.dry_run,
            "summary": summarize(decision),
            "policyReasons": _reason_status(decision.policy_reasons),
            "reasons": _reason_status(decision.reasons),
        },
    }
    if generation is not None:
        status["observedGeneration"] = generation
    if scaled(decision):
        status["lastScaleTime"] = _rfc3339()
    return status


# --------------------------------------------------------------------------------------
# Kubernetes plumbing


def load_client_configuration(kubeconfig: str | None) -> Any:
    """A ``kubernetes.client.Configuration`` from a kubeconfig path, ``in-cluster``, or the default."""
    from kubernetes import client, config

    configuration = client.Configuration()
    if kubeconfig == IN_CLUSTER:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return configuration


def connection_info(configuration: Any, namespace: str) -> Any:
    """kopf credentials from the official client's configuration (one source of truth)."""
    import kopf

    token = None
    auth = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get(
        "BearerToken"
    )
    if auth:
        token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else auth
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme="Bearer" if token else None,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        default_namespace=namespace,
    )


class LeaderGatedActuator:
    """Wraps a scale actuator: reads always, writes only while this replica leads."""

    def __init__(self, inner: Any, is_leader: Callable[[], bool]) -> None:
        self.inner = inner
        self.is_leader = is_leader

    def get_replicas(self, namespace: str, name: str) -> int:
        return self.inner.get_replicas(namespace, name)

    def set_replicas(self, namespace: str, name: str, replicas: int) -> Any:
        if not self.is_leader():
            raise NotLeaderError(f"not the leader: refusing to scale {namespace}/{name} to {replicas}")
        return self.inner.set_replicas(namespace, name, replicas)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CustomResourceGoneError(RuntimeError):
    """The RLAutoscaler a write was for is deleted, being deleted, or cannot be confirmed."""


class DeletionGatedActuator:
    """Wraps a scale actuator: a write goes out only after a fresh read shows the
    RLAutoscaler still there and not being deleted (``gone()`` returns why not, or None).
    One GET per write, not per period: writes are rare, and a deleted CR must never scale."""

    def __init__(self, inner: Any, gone: Callable[[], str | None]) -> None:
        self.inner = inner
        self.gone = gone

    def get_replicas(self, namespace: str, name: str) -> int:
        return self.inner.get_replicas(namespace, name)

    def set_replicas(self, namespace: str, name: str, replicas: int) -> Any:
        why = self.gone()
        if why is not None:
            raise CustomResourceGoneError(f"refusing to scale {namespace}/{name} to {replicas}: {why}")
        return self.inner.set_replicas(namespace, name, replicas)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


ControllerFactory = Callable[[RLAutoscalerSpec, str, "Operator"], Controller]


@dataclass
class _Target:
    """What the operator keeps per RLAutoscaler between periods."""

    key: str = ""  # the spec it was built from (JSON)
    controller: Controller | None = None
    leader_term: int = -1
    invalid: str | None = None  # the spec problem last reported
    conditions: list[dict[str, Any]] | None = None
    decisions: int = 0
    holding: bool = False  # the last decision held a scale-down the policy asked for


class Operator:
    """One operator replica. ``run()`` blocks; ``start()``/``stop()`` run it in a thread
    (tests run two at once against the emulator)."""

    def __init__(
        self,
        config: OperatorConfig,
        *,
        controller_factory: ControllerFactory | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config.validate()
        self.clock = clock or SystemClock()
        self.controller_factory = controller_factory or default_controller_factory
        self.metrics = ControllerMetrics()
        self.decision_log = DecisionLog(config.log_file)
        self.targets: dict[str, _Target] = {}
        self._configuration: Any = None
        self._api_client: Any = None
        self.elector: LeaseElector | None = None
        self.stop_flag = threading.Event()
        self.ready_flag = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.registry = self._build_registry()

    # ---------------------------------------------------------------- kube clients
    @property
    def configuration(self) -> Any:
        if self._configuration is None:
            self._configuration = load_client_configuration(self.config.kubeconfig)
        return self._configuration

    @property
    def api_client(self) -> Any:
        if self._api_client is None:
            from kubernetes import client

            self._api_client = client.ApiClient(self.configuration)
        return self._api_client

    @property
    def is_leader(self) -> bool:
        return self.elector is not None and self.elector.is_leader

    # ---------------------------------------------------------------- kopf wiring
    def _build_registry(self) -> Any:
        import kopf

        registry = kopf.OperatorRegistry()
        operator = self

        @kopf.on.startup(registry=registry)
        def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
            # log lines do not become events (kopf's default posts INFO+); the events we want are
            # posted explicitly with kopf.event, which ignores this level
            settings.posting.level = logging.WARNING
            # events say who reported them (kubectl describe's "From"): this operator, not kopf
            settings.posting.reporting_component = EVENT_COMPONENT
            settings.posting.reporting_instance = operator.config.identity
            settings.persistence.finalizer = FINALIZER
            settings.scanning.disabled = not operator.config.scanning
            settings.watching.server_timeout = 300
            settings.networking.request_timeout = 30

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> Any:
            operator._configuration = None  # re-read: in-cluster tokens rotate
            return connection_info(operator.configuration, operator.config.namespace)

        @kopf.daemon(GROUP, VERSION, PLURAL, registry=registry, cancellation_timeout=10.0)
        async def autoscale(
            stopped: Any, name: str, namespace: str, spec: Any, meta: Any, status: Any, body: Any, **_: Any
        ) -> None:
            await operator._daemon(stopped, name, namespace, spec, meta, status, body)

        return registry

    async def _elect_forever(self) -> None:
        from kubernetes import client

        self.elector = LeaseElector(
            client.CoordinationV1Api(self.api_client), self.config.lease(), self.config.identity
        )
        period_s = self.elector.config.retry_period_s
        gauge = self.metrics.leader.labels(identity=self.config.identity)
        role: str | None = None
        while True:
            leads = await asyncio.to_thread(self.elector.try_acquire_or_renew)
            gauge.set(1 if leads else 0)
            new_role = (
                "leader" if leads else f"follower of {self.elector.holder or 'nobody (the lease is free)'}"
            )
            if new_role != role:  # followers say so too, once, and again when the leader changes
                log.info("%s: %s", self.config.identity, new_role)
                role = new_role
            await asyncio.sleep(period_s)

    async def run_async(self) -> None:
        import kopf

        elect = asyncio.create_task(self._elect_forever())
        try:
            await kopf.operator(
                registry=self.registry,
                standalone=True,
                clusterwide=False,
                namespaces=[self.config.namespace],
                stop_flag=self.stop_flag,
                ready_flag=self.ready_flag,
            )
        finally:
            # kopf waits on a threading.Event stop flag in an executor thread; when it stopped
            # for another reason (SIGTERM), that wait would block asyncio.run's shutdown forever
            self.stop_flag.set()
            # a daemon cancelled mid-period (kopf's cancellation_timeout) skipped its own cleanup
            for target in self.targets.values():
                _close(target.controller)
            self.targets.clear()
            elect.cancel()
            try:
                await elect
            except (asyncio.CancelledError, Exception):
                pass
            if self.config.release_on_exit and self.elector is not None:
                await asyncio.to_thread(self.elector.release)

    def run(self) -> None:
        """Run until :attr:`stop_flag` is set (or SIGINT/SIGTERM when on the main thread)."""
        if self.config.metrics_port is not None:
            self.metrics.serve(self.config.metrics_port, self.config.metrics_addr)
        try:
            asyncio.run(self.run_async())
        finally:
            self.metrics.close()
            self.decision_log.close()

    def start(self, timeout_s: float = 30.0) -> Operator:
        """Run in a daemon thread; returns once kopf is watching."""

        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # surfaced through .error and wait_ready
                self.error = exc
                log.exception("operator %s failed", self.config.identity)
                self.ready_flag.set()

        self._thread = threading.Thread(target=target, name=f"operator-{self.config.identity}", daemon=True)
        self._thread.start()
        if not self.ready_flag.wait(timeout_s):
            raise RuntimeError(f"operator {self.config.identity} not ready within {timeout_s} s")
        if self.error is not None:
            raise RuntimeError(
                f"operator {self.config.identity} failed to start: {self.error}"
            ) from self.error
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self.stop_flag.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # ---------------------------------------------------------------- per CR
    def why_gone(self, name: str, namespace: str) -> str | None:
        """Why the RLAutoscaler may not act any more (deleted, being deleted, unreadable), or
        None while it is there. Read fresh from the API server: kopf's view lags, and a
        deleted object whose watch event was lost never reaches it."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            obj = client.CustomObjectsApi(self.api_client).get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=5
            )
        except ApiException as exc:
            if exc.status == 404:
                return "the RLAutoscaler is deleted"
            return f"the RLAutoscaler cannot be read (HTTP {exc.status})"
        except Exception as exc:  # hung or unreachable API server: cannot confirm it exists
            return f"the RLAutoscaler cannot be read ({type(exc).__name__})"
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            return "the RLAutoscaler is being deleted"
        return None

    async def _daemon(
        self, stopped: Any, name: str, namespace: str, spec: Any, meta: Any, status: Any, body: Any
    ) -> None:
        import kopf

        key = f"{namespace}/{name}"
        target = self.targets.setdefault(key, _Target())
        idle_s = 1.0 / self.config.time_scale
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stopped:
            if not self.is_leader:
                await stopped.wait(min(idle_s, self.config.lease().retry_period_s))
                # the first decision after a take-over starts the period: without this, the
                # schedule of the time before catches up with a second decision at once
                next_at = loop.time()
                continue
            why = "the RLAutoscaler is being deleted" if meta.get("deletionTimestamp") else None
            why = why or await asyncio.to_thread(self.why_gone, name, namespace)
            if why is not None and "cannot be read" not in why:
                log.info("%s: %s; its loop ends", key, why)
                break  # the CR is gone for good: end the loop (a read failure only skips a write)
            # a snapshot of kopf's live view; from the raw body, since a spec that is not an
            # object (spec: "x") cannot be read through kopf's mapping view of it
            spec_dict = json.loads(json.dumps(body.get("spec"), default=dict))
            generation = meta.get("generation")
            spec_key = json.dumps(spec_dict, sort_keys=True)
            if spec_key != target.key or target.leader_term != self.elector.transitions:
                if target.leader_term != self.elector.transitions:  # taking over: read what was reported
                    target.conditions = list((status or {}).get("conditions") or [])  # a live view
                    target.invalid = reported_invalid_spec(status)
                target.key = spec_key
                target.leader_term = self.elector.transitions if self.elector else -1
                _close(target.controller)
                target.controller = None
                try:
                    parsed = RLAutoscalerSpec.from_spec(spec_dict, key)
                    target.controller = await asyncio.to_thread(
                        self.controller_factory, parsed, namespace, self
                    )
                    target.controller.actuator = DeletionGatedActuator(
                        target.controller.actuator, lambda: self.why_gone(name, namespace)
                    )
                    restore_window(target.controller, status)
                except SpecError as exc:
                    await self._report_invalid(target, body, name, namespace, generation, exc.problems)
                except Exception as exc:  # e.g. unreadable credentials: reported, retried
                    await self._report_invalid(
                        target, body, name, namespace, generation, [f"{type(exc).__name__}: {exc}"]
                    )
                    target.key = ""  # not the spec's fault: build again next time
                else:
                    target.invalid = None
            controller = target.controller
            if controller is None:  # invalid spec: wait for an edit
                await stopped.wait(5 * idle_s)
                continue
            decision = await asyncio.to_thread(controller.reconcile_once)
            target.decisions += 1
            if self.is_leader:  # leadership may have lapsed during the reconcile
                await self._report(target, body, name, namespace, generation, decision)
            # fixed rate, like Controller.run_forever: the period does not drift by the
            # reconcile's own duration; when behind (slow API), skip ahead, never burst
            next_at = max(next_at + controller_interval_s(controller, self.config.time_scale), loop.time())
            await stopped.wait(next_at - loop.time())
        _close(target.controller)
        self.targets.pop(key, None)
        if self.is_leader:
            kopf.event(
                body,
                type="Normal",
                reason="Stopped",
                message=f"{self.config.identity} stopped managing {key}",
            )

    async def _patch_status(self, name: str, namespace: str, status: dict[str, Any]) -> None:
        from kubernetes import client

        api = client.CustomObjectsApi(self.api_client)
        try:
            await asyncio.to_thread(
                api.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": status},
            )
        except Exception as exc:  # status is best effort; the next period writes it again
            log.warning("status of %s/%s not written: %s", namespace, name, exc)

    async def _report_invalid(
        self, target: _Target, body: Any, name: str, namespace: str, generation: Any, problems: list[str]
    ) -> None:
        import kopf

        message = "; ".join(problems)
        now = _rfc3339()
        target.conditions = merge_conditions(
            target.conditions,
            {
                CONDITION_SPEC_VALID: ("False", "InvalidSpec", message),
                CONDITION_SCALING_ACTIVE: ("False", "InvalidSpec", "the spec is invalid; nothing is scaled"),
            },
            now,
        )
        status: dict[str, Any] = {"conditions": target.conditions}
        if generation is not None:
            status["observedGeneration"] = generation
        await self._patch_status(name, namespace, status)
        if target.invalid != message:
            kopf.event(body, type="Warning", reason="InvalidSpec", message=message)
            log.warning("RLAutoscaler %s/%s: invalid spec: %s", namespace, name, message)
            target.invalid = message
        self.decision_log.write(
            {"time": now, "autoscaler": f"{namespace}/{name}", "invalid_spec": problems, "patched": False}
        )

    async def _report(
        self, target: _Target, body: Any, name: str, namespace: str, generation: Any, decision: Decision
    ) -> None:
        import kopf

        updates = decision_conditions(decision)
        updates[CONDITION_SPEC_VALID] = ("True", "Valid", "the spec passed validation")
        before = {c["type"]: c.get("status") for c in target.conditions or []}
        target.conditions = merge_conditions(target.conditions, updates, _rfc3339())
        status = decision_status(decision, target.decisions, generation)
        status["conditions"] = target.conditions
        if target.controller is not None:
            status["recommendations"] = [
                {"time": round(t, 3), "replicas": r} for t, r in target.controller.recent_recommendations()
            ]
        await self._patch_status(name, namespace, status)
        if scaled(decision):
            kopf.event(
                body,
                type="Normal",
                reason="SuccessfulRescale",
                message=f"New size: {decision.final_replicas}; was {decision.current_replicas}; {explain(decision)}",
            )
        elif held_scale_down(decision) and not target.holding:  # once when a hold begins
            kopf.event(
                body,
                type="Normal",
                reason="ScaleDownHeld",
                message=f"Kept {decision.current_replicas}, proposed {decision.proposed_replicas}; {explain(decision)}",
            )
        target.holding = held_scale_down(decision)
        for cond in entered_warning_states(before, target.conditions):
            kopf.event(body, type="Warning", reason=cond["reason"], message=cond["message"])


def entered_warning_states(
    before: Mapping[str, Any], conditions: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """The conditions that have just entered a :data:`WARNING_STATES` state: warnings on a
    transition into a bad state, never every period and never for a healthy one."""
    return [
        c
        for c in conditions or []
        if (c["type"], c["status"]) in WARNING_STATES and before.get(c["type"]) != c["status"]
    ]


def reported_invalid_spec(status: Mapping[str, Any] | None) -> str | None:
    """The InvalidSpec message already in the CR's status (posted by an earlier leader), so a
    new leader does not post the same warning again."""
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == CONDITION_SPEC_VALID and cond.get("status") == "False":
            return str(cond.get("message", ""))
    return None


def restore_window(controller: Any, status: Mapping[str, Any] | None) -> None:
    """Continue the downscale window from ``status.recommendations`` (written by the last
    leader or the last run of this one), so a restart or take-over does not hold the current
    count for a whole window. Malformed entries are skipped: the window then seeds as usual."""
    records = []
    for item in (status or {}).get("recommendations") or []:
        try:
            records.append((float(item["time"]), int(item["replicas"])))
        except (KeyError, TypeError, ValueError):
            continue
    if records and hasattr(controller, "restore_recommendations"):
        controller.restore_recommendations(records)


def _close(controller: Controller | None) -> None:
    """Free what a controller holds (the metrics source's query threads)."""
    close = getattr(getattr(controller, "source", None), "close", None)
    if callable(close):
        try:
            close()
        except Exception as exc:  # best effort
            log.debug("closing the metrics source failed: %s", exc)


def controller_interval_s(controller: Controller, time_scale: float) -> float:
    """Wall seconds until the next reconcile."""
    return float(controller.spec.step_s) / time_scale


def default_controller_factory(spec: RLAutoscalerSpec, namespace: str, operator: Operator) -> Controller:
    """The same wiring as ``rlscale run`` (:func:`build_controller`), plus a leader-gated
    actuator and the operator's shared metrics and decision log."""
    run = run_config_for(spec, namespace, operator.config)
    clock: Clock = operator.clock
    if operator.config.time_scale != 1.0:
        clock = ScaledClock(operator.config.time_scale, operator.clock)
    actuator = LeaderGatedActuator(make_actuator(run), lambda: operator.is_leader)
    try:
        controller = build_controller(
            run, clock=clock, actuator=actuator, logger=operator.decision_log, metrics=operator.metrics
        )
    except ValueError as exc:
        raise SpecError(spec_problems(exc)) from None
    controller.warm_up()
    return controller


__all__ = [
    "FINALIZER",
    "CustomResourceGoneError",
    "DeletionGatedActuator",
    "LeaderGatedActuator",
    "NotLeaderError",
    "Operator",
    "OperatorConfig",
    "ScaledClock",
    "decision_conditions",
    "decision_status",
    "default_controller_factory",
    "merge_conditions",
    "run_config_for",
    "summarize",
]
