"""The configuration of one live target, stated once: :class:`RunConfig`.

Each field is a :func:`~rlscale.core.settings.setting` carrying its ``rlscale run`` flag and
environment variable, its ``RLAutoscaler`` spec path and OpenAPI constraints, default, unit
and help. The command's options (``rlscale.cli.run``), the CRD schema and defaults
(``rlscale.controller.crd``), the errors that name the field the user wrote, and
docs/flags.md are generated from here: a new flag is one new field.

Why one module of about 530 lines: most of it is the ~37 field declarations, each a few lines
of flag, environment variable, CR path, unit and help; splitting them would put one contract
in two places, which is what this module exists to prevent.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlscale.controller.client import validate_http_url
from rlscale.controller.loop import DEFAULT_REQUIRED_SIGNALS
from rlscale.core import kubernetes_defaults as k8s
from rlscale.core.settings import ConfigError, Setting, setting
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import (
    DEFAULT_POD_CAPACITY_RPS,
    DEFAULT_SLO_BUDGET,
    DEFAULT_STARTUP_DELAY_S,
    ServiceSpec,
)
from rlscale.prometheus.promql import PROMETHEUS_DURATION
from rlscale.safety.guard import RateLimits

IN_CLUSTER = "in-cluster"
# RFC 1123 label (namespace) and subdomain (deployment) names, as the API server validates them
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

#: The HPA's defaults and API limits, under the names the CR and flags use (their sources are
#: cited in core.kubernetes_defaults); ints where the CRD schema states an integer.
DEFAULT_INTERVAL_S = k8s.HPA_SYNC_PERIOD_S
DEFAULT_SCALE_DOWN_STABILIZATION_S = k8s.HPA_DOWNSCALE_STABILIZATION_S
MAX_STABILIZATION_S = int(k8s.HPA_MAX_STABILIZATION_S)
MAX_PERIOD_S = int(k8s.HPA_MAX_POLICY_PERIOD_S)
DEFAULT_PERIOD_S = k8s.HPA_SCALE_UP_PERIOD_S
DEFAULT_SCALE_UP_PODS = k8s.HPA_SCALE_UP_PODS
DEFAULT_SCALE_UP_PERCENT = float(k8s.HPA_SCALE_UP_PERCENT)

#: DNS-1123 label (Kubernetes object names of Deployments), ``k8s.io/apimachinery`` validation.
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: A coarse first check of a policy spec in the CRD schema (a registry name, then ``:...`` without
#: whitespace); the grammar itself is ``rlscale.policies.parse_policy_spec``, which
#: :meth:`RunConfig.validate` calls, so a CR gets the same verdict as ``rlscale run --policy``.
POLICY_PATTERN = r"^[a-z][a-z0-9_-]*(:[^\s]+)?$"
#: Prometheus range for rate(): four scrapes at the usual 15 s interval (metrics_source.py).
DEFAULT_WINDOW = "1m"
#: CR field under ``spec.metrics.queries`` -> :class:`rlscale.controller.metrics_source.MetricQueries`
#: field (PromQL templates with ``$namespace``, ``$deployment``, ``$window``).
QUERY_FIELDS: dict[str, str] = {
    "requestRate": "request_rate_rps",
    "cpuUsageCores": "cpu_usage_cores",
    "cpuRequestsCores": "cpu_requests_cores",
    "cpuUtilization": "cpu_utilization",
    "latencyP95": "latency_p95_s",
    "readyReplicas": "ready_replicas",
    "desiredReplicas": "desired_replicas",
    "pendingReplicas": "pending_replicas",
    "droppedRate": "dropped_rps",
    "backlog": "backlog_requests",
    "sloViolationFraction": "slo_violation_fraction",
    "freshness": "freshness_s",
}
#: Signals a spec may require fresh before the guard trusts a decision (ScalingSignals fields).
SIGNAL_NAMES: tuple[str, ...] = (
    "request_rate_rps",
    "cpu_utilization",
    "latency_p95_s",
    "ready_replicas",
    "pending_replicas",
    "backlog_requests",
    "dropped_rps",
)
_POSITIVE = {"minimum": 0, "exclusiveMinimum": True}

# Settings the operator's flags share (same flag, variable and meaning in both commands).
KUBECONFIG = Setting(
    flags=("--kubeconfig",),
    env="RLSCALE_KUBECONFIG",
    help="Kubeconfig path, or 'in-cluster' (default: ~/.kube/config).",
)
LOG_FILE = Setting(
    flags=("--log-file",),
    env="RLSCALE_LOG_FILE",
    help="Append JSON-lines decision logs here (default: stdout).",
)
METRICS_PORT = Setting(
    flags=("--metrics-port",),
    env="RLSCALE_METRICS_PORT",
    help="Serve the process's own /metrics on this port (0: any free port; default: none).",
)
METRICS_ADDR = Setting(
    flags=("--metrics-addr",),
    env="RLSCALE_METRICS_ADDR",
    help="Address for /metrics: loopback unless asked (0.0.0.0 in a pod).",
)


def read_metric_queries(path: str) -> dict[str, Any]:
    """The ``--metric-queries`` JSON file: an object of MetricQueries fields."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"--metric-queries {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"--metric-queries {path}:{exc.lineno}: not JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"--metric-queries {path}: must be a JSON object of signal -> PromQL")
    return data


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


@dataclass(frozen=True)
class RunConfig:
    """Everything ``rlscale run`` (and the operator, per custom resource) needs for one target.
    :meth:`validate` raises a :class:`~rlscale.core.settings.ConfigError` naming each bad field."""

    namespace: str = setting(
        flags=("--namespace",), env="RLSCALE_NAMESPACE", help="Namespace of the Deployment."
    )
    deployment: str = setting(
        flags=("--deployment",),
        env="RLSCALE_DEPLOYMENT",
        cr_path="scaleTargetRef.name",
        cr_required=True,
        cr_schema={"minLength": 1, "maxLength": 63, "pattern": DNS1123_LABEL},
        help="Deployment to scale.",
    )
    prometheus_url: str = setting(
        flags=("--prometheus",),
        env="RLSCALE_PROMETHEUS",
        cr_path="metrics.prometheusUrl",
        cr_schema={"pattern": r"^https?://[^\s/]+(/[^\s]*)?$"},
        help="Prometheus HTTP API base URL, e.g. http://prometheus:9090 (in a custom resource: "
        "default the operator's --prometheus).",
    )
    min_replicas: int = setting(
        flags=("--min",),
        env="RLSCALE_MIN",
        cr_path="minReplicas",
        cr_default=1,
        cr_schema={"minimum": 0},
        unit="pods",
        help="Never fewer replicas than this (0 allows scale to zero).",
    )
    max_replicas: int = setting(
        flags=("--max",),
        env="RLSCALE_MAX",
        cr_path="maxReplicas",
        cr_required=True,
        cr_schema={"minimum": 1},
        unit="pods",
        help="Never more replicas than this.",
    )
    policy: str = setting(
        "hpa",
        flags=("--policy",),
        env="RLSCALE_POLICY",
        cr_path="policy",
        cr_schema={"pattern": POLICY_PATTERN},
        help="Policy spec NAME[:k=v,...]: hpa, keda, kpa, hpa:target=60, learned:PATH (a checkpoint directory) ...",
    )
    interval_s: float = setting(
        DEFAULT_INTERVAL_S,
        flags=("--interval",),
        env="RLSCALE_INTERVAL",
        cr_path="intervalSeconds",
        cr_schema={"minimum": 1},
        unit="s",
        help="Time between decisions (HPA sync period: 15).",
    )
    dry_run: bool = setting(
        False,
        flags=("--dry-run/--apply",),
        env="RLSCALE_DRY_RUN",
        cr_path="dryRun",
        help="Shadow mode: decide and record, never patch the scale.",
    )
    kubeconfig: str | None = KUBECONFIG.field(None)
    metrics_port: int | None = METRICS_PORT.field(None)
    metrics_addr: str = METRICS_ADDR.field("127.0.0.1")
    log_file: str | None = LOG_FILE.field(None)
    server_url: str | None = setting(
        None,
        flags=("--server",),
        env="RLSCALE_SERVER",
        help="Client mode: ask this policy server (rlscale serve) instead.",
    )
    server_token: str | None = setting(
        None,
        flags=("--server-token",),
        env="RLSCALE_SERVER_TOKEN",
        help="Bearer token for the policy server.",
    )
    server_timeout_s: float = setting(
        2.0,
        flags=("--server-timeout",),
        env="RLSCALE_SERVER_TIMEOUT",
        unit="s",
        help="Timeout of one policy-server request.",
    )
    pod_capacity_rps: float = setting(
        DEFAULT_POD_CAPACITY_RPS,
        flags=("--pod-capacity-rps",),
        env="RLSCALE_POD_CAPACITY_RPS",
        cr_path="service.podCapacityRps",
        cr_schema=_POSITIVE,
        unit="requests/s",
        help="Request rate one ready pod sustains.",
    )
    slo_latency_s: float = setting(
        0.5,
        flags=("--slo-latency", "--slo"),
        env="RLSCALE_SLO",
        cr_path="slo.latencySeconds",
        cr_required=True,
        cr_schema=_POSITIVE,
        unit="s",
        help="Latency SLO: a request slower than this violates it (a bucket bound of the service's "
        "latency histogram, for the SLO violation query).",
    )
    slo_budget: float = setting(
        DEFAULT_SLO_BUDGET,
        flags=("--slo-budget",),
        env="RLSCALE_SLO_BUDGET",
        cr_path="slo.budget",
        cr_schema={**_POSITIVE, "maximum": 1, "exclusiveMaximum": True},
        unit="fraction",
        help="Error budget of the SLO: the fraction of requests that may be slower than the latency SLO or "
        "dropped (0.01 = 1 %). A learned policy with budget feedback keeps it.",
    )
    startup_delay_s: float = setting(
        DEFAULT_STARTUP_DELAY_S,
        flags=("--startup-delay", "--startup-delay-seconds"),
        env="RLSCALE_STARTUP_DELAY",
        cr_path="service.startupDelaySeconds",
        cr_schema={"minimum": 0},
        unit="s",
        help="Time from pod creation to Ready.",
    )
    stabilization_window_s: float = setting(
        DEFAULT_SCALE_DOWN_STABILIZATION_S,
        flags=("--stabilization-window",),
        env="RLSCALE_STABILIZATION_WINDOW",
        cr_path="behavior.scaleDownStabilizationSeconds",
        cr_schema={"type": "integer", "minimum": 0, "maximum": MAX_STABILIZATION_S},
        unit="s",
        help="Downscale stabilisation window (HPA: 300).",
    )
    rate_period_s: float = setting(
        DEFAULT_PERIOD_S,
        flags=("--max-step-period",),
        env="RLSCALE_MAX_STEP_PERIOD",
        cr_path="behavior.periodSeconds",
        cr_schema={**_POSITIVE, "maximum": MAX_PERIOD_S},
        unit="s",
        help="Period of the max-step limits (HPA periodSeconds).",
    )
    max_step_up_pods: int | None = setting(
        DEFAULT_SCALE_UP_PODS,
        flags=("--max-step-up-pods",),
        env="RLSCALE_MAX_STEP_UP_PODS",
        cr_path="behavior.maxScaleUpPods",
        cr_schema={"minimum": 1},
        unit="pods",
        help="Most pods added per period (HPA: 4).",
    )
    max_step_up_percent: float | None = setting(
        DEFAULT_SCALE_UP_PERCENT,
        flags=("--max-step-up-percent",),
        env="RLSCALE_MAX_STEP_UP_PERCENT",
        cr_path="behavior.maxScaleUpPercent",
        cr_schema=_POSITIVE,
        unit="%",
        help="Most percent added per period (HPA: 100).",
    )
    max_step_down_pods: int | None = setting(
        None,
        flags=("--max-step-down-pods",),
        env="RLSCALE_MAX_STEP_DOWN_PODS",
        cr_path="behavior.maxScaleDownPods",
        cr_schema={"minimum": 1},
        unit="pods",
        help="Most pods removed per period (unset: no limit).",
    )
    max_step_down_percent: float | None = setting(
        None,
        flags=("--max-step-down-percent",),
        env="RLSCALE_MAX_STEP_DOWN_PERCENT",
        cr_path="behavior.maxScaleDownPercent",
        cr_schema={**_POSITIVE, "maximum": 100},
        unit="%",
        help="Most percent removed per period (unset: no limit).",
    )
    fallback_hpa: bool = setting(
        True,
        flags=("--fallback/--no-fallback",),
        cr_path="behavior.onPolicyFailure",
        cr_schema={"type": "string", "enum": ["hpa", "hold"]},
        cr_default="hpa",
        from_cr=lambda value: value == "hpa",
        help="Fall back to the HPA algorithm when the policy fails, or hold (CR: hpa or hold).",
    )
    fallback_policy: str = setting(
        "hpa",
        flags=("--fallback-policy",),
        env="RLSCALE_FALLBACK_POLICY",
        cr_path="behavior.fallbackPolicy",
        cr_schema={"pattern": r"^hpa(:[^\s]+)?$"},
        help="The HPA spec fallen back to (e.g. hpa:target=70).",
    )
    required_signals: tuple[str, ...] = setting(
        DEFAULT_REQUIRED_SIGNALS,
        flags=("--require-signals",),
        env="RLSCALE_REQUIRE_SIGNALS",
        cr_path="metrics.requiredSignals",
        cr_schema={"type": "array", "items": {"type": "string", "enum": list(SIGNAL_NAMES)}},
        from_text=_comma_list,
        help="Signals whose staleness makes the guard hold (comma-separated on the command line).",
    )
    prometheus_timeout_s: float = setting(
        2.0,
        flags=("--prometheus-timeout",),
        env="RLSCALE_PROMETHEUS_TIMEOUT",
        cr_path="metrics.timeoutSeconds",
        cr_schema=_POSITIVE,
        unit="s",
        help="Timeout of one Prometheus query.",
    )
    api_timeout_s: float = setting(
        5.0,
        flags=("--api-timeout",),
        env="RLSCALE_API_TIMEOUT",
        unit="s",
        help="Timeout of one Kubernetes API request.",
    )
    api_max_attempts: int = 5  # retries on 409 conflicts and transient 5xx, with backoff
    max_decisions: int | None = setting(
        None, flags=("--max-decisions",), help="Stop after this many decisions (demos, tests)."
    )
    policy_retry_s: float = 30.0  # how often a policy whose checkpoint failed to load is retried
    #: PromQL overrides per signal, and optionally ``window`` (MetricQueries fields)
    metric_queries: dict[str, Any] = setting(
        default_factory=dict,
        flags=("--metric-queries",),
        env="RLSCALE_METRIC_QUERIES",
        from_text=read_metric_queries,
        cr_path="metrics.queries",
        cr_schema={
            "type": "object",
            "properties": {
                name: {"type": "string", "minLength": 1, "description": "PromQL expression."}
                for name in QUERY_FIELDS
            },
        },
        from_cr=lambda queries: {QUERY_FIELDS[k]: v for k, v in queries.items()},
        help="PromQL per signal ($namespace, $deployment, $window are substituted); unset ones use the "
        "defaults for kube-state-metrics, cAdvisor and http_requests_total. On the command line: a "
        "JSON file of MetricQueries fields.",
    )
    metric_window: str | None = setting(
        None,
        flags=("--metric-window",),
        env="RLSCALE_METRIC_WINDOW",
        cr_path="metrics.window",
        cr_default=DEFAULT_WINDOW,
        cr_schema={"pattern": PROMETHEUS_DURATION},
        help=f"Range of rate() in the queries ($window; default {DEFAULT_WINDOW}).",
    )
    staleness_s: float = setting(
        60.0,
        flags=("--staleness",),
        env="RLSCALE_STALENESS",
        cr_path="metrics.stalenessSeconds",
        cr_schema=_POSITIVE,
        unit="s",
        help="Samples older than this are stale: the guard holds.",
    )
    window_configmap: str | None = setting(
        None,
        flags=("--window-configmap",),
        env="RLSCALE_WINDOW_CONFIGMAP",
        help="Keep the downscale window in this ConfigMap (in the target's namespace) so a restart does "
        "not hold extra pods for a window (needs configmaps get/create/patch).",
    )

    def queries(self) -> dict[str, Any]:
        """The MetricQueries fields: ``metric_queries`` with ``metric_window`` as its window, if set."""
        window = {"window": self.metric_window} if self.metric_window is not None else {}
        return {**self.metric_queries, **window}

    def problems(self) -> list[str]:
        """Every problem, each a template naming its fields as ``{field_name}``."""
        problems = []
        if not _DNS_LABEL.match(self.namespace or "") or len(self.namespace) > 63:
            problems.append(
                f"{{namespace}} {self.namespace!r} is not a valid namespace name (RFC 1123 label)"
            )
        if not _DNS_SUBDOMAIN.match(self.deployment or "") or len(self.deployment) > 253:
            problems.append(
                f"{{deployment}} {self.deployment!r} is not a valid object name (RFC 1123 subdomain)"
            )
        for name, url in (("prometheus_url", self.prometheus_url), ("server_url", self.server_url)):
            if url is not None:
                try:
                    validate_http_url(url, f"{{{name}}} URL")
                except ValueError as exc:
                    problems.append(str(exc))
        for name in ("policy", "fallback_policy"):
            problems += _policy_problems(name, getattr(self, name))
        if not (math.isfinite(self.slo_budget) and 0 < self.slo_budget < 1):
            problems.append(f"{{slo_budget}} must be a fraction in (0, 1), e.g. 0.01, got {self.slo_budget}")
        if self.min_replicas < 0:
            problems.append(f"{{min_replicas}} must be >= 0, got {self.min_replicas}")
        if self.min_replicas > self.max_replicas:
            problems.append(
                f"{{min_replicas}} ({self.min_replicas}) must be <= {{max_replicas}} ({self.max_replicas})"
            )
        for name in (
            "interval_s",
            "pod_capacity_rps",
            "slo_latency_s",
            "prometheus_timeout_s",
            "server_timeout_s",
            "api_timeout_s",
            "staleness_s",
            "rate_period_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{{{name}}} must be a positive number, got {value}")
        if not (math.isfinite(self.startup_delay_s) and self.startup_delay_s >= 0):
            problems.append(f"{{startup_delay_s}} must be a number >= 0, got {self.startup_delay_s}")
        if not 0 <= self.stabilization_window_s <= MAX_STABILIZATION_S:
            problems.append(
                f"{{stabilization_window_s}} must be in [0, {MAX_STABILIZATION_S}] s, "
                f"got {self.stabilization_window_s}"
            )
        if self.rate_period_s > MAX_PERIOD_S:
            problems.append(f"{{rate_period_s}} must be <= {MAX_PERIOD_S} s, got {self.rate_period_s}")
        for name in (
            "max_step_up_pods",
            "max_step_up_percent",
            "max_step_down_pods",
            "max_step_down_percent",
        ):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                problems.append(f"{{{name}}} must be > 0 or unset, got {value}")
        if self.max_step_down_percent is not None and self.max_step_down_percent > 100:
            problems.append(f"{{max_step_down_percent}} must be <= 100, got {self.max_step_down_percent}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            problems.append(f"{{metrics_port}} must be in [0, 65535], got {self.metrics_port}")
        if self.kubeconfig not in (None, IN_CLUSTER) and not Path(self.kubeconfig).is_file():
            problems.append(f"{{kubeconfig}} {self.kubeconfig!r}: no such file (or use 'in-cluster')")
        if self.log_file is not None and not Path(self.log_file).parent.is_dir():
            problems.append(f"{{log_file}} {self.log_file!r}: directory does not exist")
        unknown = set(self.required_signals) - set(ScalingSignals.field_names())
        if unknown:
            problems.append(
                f"{{required_signals}}: unknown {sorted(unknown)}; known: {ScalingSignals.field_names()}"
            )
        try:
            from rlscale.controller.metrics_source import MetricQueries

            MetricQueries.from_dict(self.queries(), "{metric_queries}")
        except ValueError as exc:
            problems.append(str(exc))
        if self.window_configmap is not None and (
            not _DNS_SUBDOMAIN.match(self.window_configmap) or len(self.window_configmap) > 253
        ):
            problems.append(
                f"{{window_configmap}} {self.window_configmap!r} is not a valid object name (RFC 1123 subdomain)"
            )
        if self.max_decisions is not None and self.max_decisions < 1:
            problems.append(f"{{max_decisions}} must be >= 1, got {self.max_decisions}")
        return problems

    def validate(self) -> RunConfig:
        problems = self.problems()
        if problems:
            raise ConfigError(type(self), problems)
        return self

    def service_spec(self) -> ServiceSpec:
        return ServiceSpec(
            name=self.deployment,
            pod_capacity_rps=self.pod_capacity_rps,
            slo_latency_s=self.slo_latency_s,
            slo_budget=self.slo_budget,
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            step_s=self.interval_s,
            startup_delay_s=self.startup_delay_s,
        )

    def rate_limits(self) -> RateLimits | None:
        limits = (
            self.max_step_up_pods,
            self.max_step_up_percent,
            self.max_step_down_pods,
            self.max_step_down_percent,
        )
        if all(v is None for v in limits):
            return None
        return RateLimits(
            period_s=self.rate_period_s,
            up_pods=self.max_step_up_pods,
            up_percent=self.max_step_up_percent,
            down_pods=self.max_step_down_pods,
            down_percent=self.max_step_down_percent,
        )


def _policy_problems(name: str, spec_text: str) -> list[str]:
    """The policy-spec grammar is the registry's (one parser for the CLI, the CR and the server)."""
    from rlscale.policies import parse_policy_spec

    try:
        parse_policy_spec(spec_text)
    except (ValueError, KeyError) as exc:
        return [f"{{{name}}} {spec_text!r}: {exc}"]
    return []
