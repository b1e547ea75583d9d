"""``rlscale operator``: a kopf operator that runs one live control loop per ``RLAutoscaler``.

The operator is thin wiring (DESIGN.md §8): for each custom resource a kopf daemon turns the
spec into the same :class:`~rlscale.controller.run_config.RunConfig` that ``rlscale run`` takes,
builds the same :class:`~rlscale.controller.loop.Controller` (Prometheus source, policy,
HPA fallback, safety guard, scale actuator) with :func:`~rlscale.controller.app.build_controller`,
and calls ``reconcile_once`` every ``spec.intervalSeconds``. What it adds is what a custom
resource needs: spec validation with the CRD's schema (a bad spec is reported in status and
events and never scales anything), status with the last decision and HPA-style conditions,
Kubernetes events on scale, and leader election over a Lease so that of several replicas
exactly one acts (:mod:`rlscale.controller.operator_lease`).

This module is the kopf wiring and the per-CR loop; its parts live beside it:
:mod:`~rlscale.controller.operator_config` (flags, CR → RunConfig, CR-field errors),
:mod:`~rlscale.controller.operator_status` (status and conditions),
:mod:`~rlscale.controller.kube_connection` (client and kopf credentials),
:mod:`~rlscale.controller.gated_actuator` (writes only for a leader and a live CR),
:mod:`~rlscale.controller.operator_thread` (the thread runner) and
:class:`~rlscale.core.clock.ScaledClock` (emulated time).

kopf runs standalone (no KopfPeering): followers keep watching and keep their daemons
alive, but a daemon does nothing while its replica is not the leader, and the actuator
refuses a write from a non-leader as a last line of defence.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlscale.controller.app import build_controller, make_actuator
from rlscale.controller.crd import (
    CONDITION_SCALING_ACTIVE,
    CONDITION_SPEC_VALID,
    GROUP,
    PLURAL,
    VERSION,
    RLAutoscalerSpec,
    SpecError,
    spec_problems,
)
from rlscale.controller.decision_log import DecisionLog
from rlscale.controller.gated_actuator import DeletionGatedActuator, LeaderGatedActuator
from rlscale.controller.kube_connection import connection_info, load_client_configuration
from rlscale.controller.loop import Controller
from rlscale.controller.operator_config import OperatorConfig, run_config_for
from rlscale.controller.operator_lease import LeaseElector
from rlscale.controller.operator_status import (
    decision_conditions,
    decision_status,
    entered_warning_states,
    explain,
    held_scale_down,
    merge_conditions,
    reported_invalid_spec,
    restore_window,
    rfc3339,
    scaled,
)
from rlscale.controller.operator_thread import BackgroundRun
from rlscale.controller.telemetry import ControllerMetrics
from rlscale.core.clock import Clock, ScaledClock, SystemClock
from rlscale.core.decision import Decision

log = logging.getLogger(__name__)

#: Finalizer kopf puts on each RLAutoscaler while its daemon runs (kopf needs one for daemons).
FINALIZER = "rlscale.io/operator"
#: The ``source.component`` / ``reportingComponent`` of the operator's events.
EVENT_COMPONENT = "rlscale-operator"

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
        self.runner = BackgroundRun(
            self.run, ready=self.ready_flag, stop=self.stop_flag, name=f"operator {config.identity}"
        )
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
        self.runner.start(timeout_s)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self.runner.stop(timeout_s)

    @property
    def error(self) -> BaseException | None:
        """What ended the operator's thread, if it failed."""
        return self.runner.error

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
        now = rfc3339()
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
        target.conditions = merge_conditions(target.conditions, updates, rfc3339())
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


__all__ = ["EVENT_COMPONENT", "FINALIZER", "Operator", "default_controller_factory"]
