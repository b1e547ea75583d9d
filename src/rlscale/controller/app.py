"""``rlscale run`` without the CLI: the wiring of the real pieces (Prometheus source, scale
actuator, policy or policy-server client, HPA fallback, guard, metrics, decision log) into a
:class:`Controller`, for one :class:`~rlscale.controller.run_config.RunConfig`.

Tests build controllers through :func:`build_controller`, so they run the same code path as
the command.
"""

from __future__ import annotations

import threading
from typing import Any

from rlscale.controller.client import PolicyClient, RemotePolicy
from rlscale.controller.decision_log import DecisionLog
from rlscale.controller.loop import Controller
from rlscale.controller.policy_loader import ReloadingPolicy
from rlscale.controller.run_config import IN_CLUSTER, RunConfig
from rlscale.controller.telemetry import ControllerMetrics
from rlscale.core.clock import Clock, SystemClock
from rlscale.core.settings import ConfigError
from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.safety.guard import Guard, GuardConfig


def load_policy(
    spec_text: str,
    service: ServiceSpec,
    *,
    reloading: bool = False,
    retry_s: float = 30.0,
    what: str = "--policy",
) -> Policy:
    """A local policy from a spec string (``hpa``, ``keda:...``, ``learned:PATH``...).

    An unknown policy or bad parameters raise a ValueError naming ``what`` (the flag). With
    ``reloading``, a corrupt or mismatched checkpoint does not: the policy is returned
    unloaded, raises on ``act`` (the guard falls back to the HPA) and is retried every
    ``retry_s`` (see :mod:`rlscale.controller.policy_loader`).
    """
    from rlscale.policies import build_policy, parse_policy_spec

    try:
        parsed = parse_policy_spec(spec_text)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{what} {spec_text!r}: {exc}") from exc

    def factory() -> Policy:
        return build_policy(parsed, service, 1)

    try:
        if reloading:
            return ReloadingPolicy(factory, service, name=spec_text, retry_s=retry_s)
        return factory()
    except (ValueError, KeyError, OSError) as exc:
        raise ValueError(f"{what} {spec_text!r}: {exc}") from exc


def make_actuator(config: RunConfig) -> Any:
    from rlscale.controller.actuator import ScaleActuator

    kwargs: dict[str, Any] = {
        "min_replicas": config.min_replicas,
        "max_replicas": config.max_replicas,
        "dry_run": config.dry_run,
        "request_timeout_s": config.api_timeout_s,
        "max_attempts": config.api_max_attempts,
    }
    if config.kubeconfig == IN_CLUSTER:
        return ScaleActuator.from_config(None, in_cluster=True, **kwargs)
    return ScaleActuator.from_config(config.kubeconfig, **kwargs)


def make_source(config: RunConfig) -> Any:
    from rlscale.controller.metrics_source import MetricQueries, PrometheusSource

    return PrometheusSource(
        config.prometheus_url,
        MetricQueries.from_dict(config.queries(), "--metric-queries"),
        timeout_s=config.prometheus_timeout_s,
        staleness_s=config.staleness_s,
        slo_latency_s=config.slo_latency_s,
    )


def build_controller(
    config: RunConfig,
    *,
    clock: Clock | None = None,
    source: Any = None,
    actuator: Any = None,
    logger: DecisionLog | None = None,
    metrics: ControllerMetrics | None = None,
) -> Controller:
    """Wire the real pieces for ``config`` (any of them may be passed in instead). Bad settings
    raise a :class:`~rlscale.core.settings.ConfigError` naming the fields."""
    config.validate()
    spec = config.service_spec()
    try:
        if config.server_url is not None:
            client = PolicyClient(
                config.server_url, token=config.server_token, timeout_s=config.server_timeout_s
            )
            policy: Any = RemotePolicy(client, spec, target=f"{config.namespace}/{config.deployment}")
        else:
            policy = load_policy(
                config.policy, spec, reloading=True, retry_s=config.policy_retry_s, what="{policy}"
            )
        fallback = (
            load_policy(config.fallback_policy, spec, what="{fallback_policy}")
            if config.fallback_hpa
            else None
        )
    except ValueError as exc:  # a policy's parameters out of range (the grammar is checked by validate)
        raise ConfigError(type(config), [str(exc)]) from exc
    guard = Guard(
        GuardConfig(
            min_replicas=config.min_replicas,
            max_replicas=config.max_replicas,
            stabilization_window_s=config.stabilization_window_s,
            rate_limits=config.rate_limits(),
            fallback=config.fallback_hpa,
            dry_run=config.dry_run,
        )
    )
    actuator = actuator if actuator is not None else make_actuator(config)
    return Controller(
        namespace=config.namespace,
        deployment=config.deployment,
        spec=spec,
        source=source if source is not None else make_source(config),
        policy=policy,
        guard=guard,
        actuator=actuator,
        clock=clock if clock is not None else SystemClock(),
        logger=logger if logger is not None else DecisionLog(config.log_file),
        metrics=metrics if metrics is not None else ControllerMetrics(),
        fallback=fallback,
        required_signals=config.required_signals,
        window_store=make_window_store(config, actuator),
    )


def make_window_store(config: RunConfig, actuator: Any) -> Any:
    """The ConfigMap that keeps the downscale window (``--window-configmap``), through the
    actuator's API client; None without the flag or without a Kubernetes client."""
    api = getattr(actuator, "api", None)
    if config.window_configmap is None or api is None or not hasattr(api, "api_client"):
        return None
    from kubernetes import client

    from rlscale.controller.window_store import ConfigMapWindowStore

    target = f"{config.namespace}/{config.deployment}"
    return ConfigMapWindowStore(
        client.CoreV1Api(api.api_client), config.namespace, config.window_configmap, target
    )


def run(config: RunConfig, stop_event: threading.Event | None = None) -> int:
    """Build the controller, serve its metrics, reconcile until stopped; returns decisions made."""
    controller = build_controller(config)
    controller.warm_up()
    if controller.window_store is not None:  # continue the window the last run left
        saved = controller.window_store.load()
        if saved:
            controller.restore_recommendations(saved)
    if config.metrics_port is not None:
        controller.metrics.serve(config.metrics_port, config.metrics_addr)
    try:
        return controller.run_forever(config.interval_s, stop_event, max_decisions=config.max_decisions)
    finally:
        controller.metrics.close()
        if controller.logger is not None:
            controller.logger.close()
