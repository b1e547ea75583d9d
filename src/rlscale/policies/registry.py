"""Policy SPEC strings (``hpa:target=60,behavior=default``, ``static:replicas=5``,
``learned:PATH``) → typed :class:`PolicySpec` → a built :class:`Policy`.

The CLI (``rlscale evaluate --policy SPEC``) and the live controller parse the same strings,
so a bad spec fails the same way everywhere, naming the policy, the parameter and the value.
The learned policy lives in ``policies/learned.py`` and registers itself with
:func:`register_policy` when imported; :func:`build_policy` imports it lazily.

Why one module of ~550 lines: the grammar, the registry and the built-in policies' parameter
tables are one contract (a spec's parameters are parsed by the table that builds it, and the
``--help`` text, the CRD's coarse check and the policy server read the same table); the
built-ins register themselves at the bottom, so splitting them out would only add an import
cycle.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlscale.core import kubernetes_defaults as k8s
from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy


class PolicySpecError(ValueError):
    """A SPEC string or its parameters are invalid; the message names what and why."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: ``kind`` is ``number`` (float), ``int``, ``str`` or ``choice``."""

    kind: str
    help: str = ""
    choices: tuple[str, ...] = ()

    def parse(self, policy: str, name: str, text: str) -> Any:
        if self.kind == "number":
            try:
                value = float(text)
            except ValueError:
                raise PolicySpecError(
                    f"{policy}: parameter '{name}' must be a number, got '{text}'"
                ) from None
            if not math.isfinite(value):  # no policy parameter means anything at inf or nan
                raise PolicySpecError(f"{policy}: parameter '{name}' must be finite, got '{text}'")
            return value
        if self.kind == "int":
            try:
                return int(text)
            except ValueError:
                raise PolicySpecError(
                    f"{policy}: parameter '{name}' must be an integer, got '{text}'"
                ) from None
        if self.kind == "choice":
            for c in self.choices:
                if text.lower() == c.lower():
                    return c
            raise PolicySpecError(
                f"{policy}: parameter '{name}' must be one of {', '.join(self.choices)}, got '{text}'"
            )
        if self.kind == "str":
            return text
        raise PolicySpecError(f"{policy}: parameter '{name}' has an unknown kind {self.kind!r}")


#: ``factory(service, num_envs, **params, **context) -> Policy`` (the documented convention for
#: :func:`register_policy`; the built-ins here take ``params`` as one dict instead).
PolicyFactory = Callable[..., Policy]


@dataclass(frozen=True)
class _Entry:
    factory: PolicyFactory | None
    params: Mapping[str, ParamSpec]
    positional: str | None = None  # ``name:VALUE`` without '=' sets this parameter
    lazy_module: str | None = None  # imported on first build to register the real factory
    doc: str = ""
    params_dict: bool = False  # built-ins: factory(service, num_envs, params, **context)


@dataclass(frozen=True)
class PolicySpec:
    """A parsed SPEC: the policy name and its typed parameters (only those given)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return (
            self.name
            + ":"
            + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items())
        )


_REGISTRY: dict[str, _Entry] = {}
#: Every registered policy name, in registration order; :func:`register_policy` appends new ones.
POLICY_NAMES: list[str] = []


_JSON_KINDS = {"string": "str", "number": "number", "integer": "int"}


def _schema(params: Mapping[str, Any]) -> dict[str, ParamSpec]:
    """Accept ``{name: ParamSpec | kind}`` or a JSON schema ``{"type": "object", "properties":
    {name: {"type": "string"|"number"|"integer", "enum": [...], "description": ...}}}``."""
    if "properties" in params and isinstance(params.get("properties"), Mapping):
        out: dict[str, ParamSpec] = {}
        for key, prop in params["properties"].items():
            if "enum" in prop:
                out[key] = ParamSpec(
                    "choice", prop.get("description", ""), tuple(str(c) for c in prop["enum"])
                )
                continue
            kind = _JSON_KINDS.get(prop.get("type", "string"))
            if kind is None:
                raise ValueError(f"parameter {key!r}: JSON schema type {prop.get('type')!r} is not supported")
            out[key] = ParamSpec(kind, prop.get("description", ""))
        return out
    out = {}
    for key, value in params.items():
        spec = value if isinstance(value, ParamSpec) else ParamSpec(str(value))
        if spec.kind not in ("number", "int", "str", "choice"):
            raise ValueError(f"parameter {key!r}: kind must be number, int, str or choice, got {spec.kind!r}")
        out[key] = spec
    return out


def register_policy(
    name: str,
    factory: PolicyFactory,
    params_schema: Mapping[str, Any],
    *,
    positional: str | None = None,
    doc: str = "",
) -> None:
    """Add (or replace) a policy. ``factory(service, num_envs, **params, **context)`` builds
    it (only the parameters the spec gave are passed). ``params_schema`` maps parameter names
    to a :class:`ParamSpec` or a kind string, or is a JSON schema with ``properties``.
    Replacing an entry keeps its positional parameter (``learned:PATH``) when the new schema
    has it."""
    _register(name, factory, params_schema, positional=positional, doc=doc, params_dict=False)


def _register(
    name: str,
    factory: PolicyFactory,
    params_schema: Mapping[str, Any],
    *,
    positional: str | None,
    doc: str,
    params_dict: bool,
) -> None:
    schema = _schema(params_schema)
    previous = _REGISTRY.get(name)
    if positional is None and previous is not None and previous.positional in schema:
        positional = previous.positional
    if positional is not None and positional not in schema:
        raise ValueError(
            f"register_policy({name!r}): positional parameter {positional!r} is not in the schema"
        )
    _REGISTRY[name] = _Entry(
        factory, schema, positional, None, doc or (previous.doc if previous else ""), params_dict
    )
    if name not in POLICY_NAMES:
        POLICY_NAMES.append(name)


def _known() -> str:
    return ", ".join(POLICY_NAMES)


def parse_policy_spec(text: str) -> PolicySpec:
    """Parse ``NAME[:k=v,...]`` (or ``NAME:VALUE`` for a policy with a positional parameter,
    e.g. ``learned:models/best``)."""
    raw = text.strip()
    if not raw:
        raise PolicySpecError(f"empty policy spec; known policies: {_known()}")
    name, _, rest = raw.partition(":")
    name = name.strip().lower()
    entry = _REGISTRY.get(name)
    if entry is None:
        raise PolicySpecError(f"unknown policy '{name}'; known policies: {_known()}")
    rest = rest.strip()
    if rest and entry.positional is not None and "=" not in rest.split(",", 1)[0]:
        return PolicySpec(
            name, {entry.positional: entry.params[entry.positional].parse(name, entry.positional, rest)}
        )
    return parse_params(name, rest, entry.params)


def parse_params(name: str, rest: str, schema: Mapping[str, ParamSpec]) -> PolicySpec:
    """``k=v,...`` (the part after ``name:``) → a :class:`PolicySpec`, each value parsed by
    ``schema``; also for spec names outside the registry (the evaluation's ``hpa-frontier``)."""
    params: dict[str, Any] = {}
    if not rest.strip():
        return PolicySpec(name, params)
    valid = ", ".join(schema) or "(none)"
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise PolicySpecError(
                f"{name}: expected key=value, got '{item.strip()}' (valid parameters: {valid})"
            )
        if key not in schema:
            raise PolicySpecError(f"{name}: unknown parameter '{key}'; valid parameters: {valid}")
        if key in params:
            raise PolicySpecError(f"{name}: parameter '{key}' given twice")
        params[key] = schema[key].parse(name, key, value)
    return PolicySpec(name, params)


def takes_budget(name: str) -> bool:
    """Whether the policy ``name`` is given the SLO budget (``budget=B``): the evaluation runs
    such a policy once per budget asked for."""
    entry = _REGISTRY.get(name)
    return entry is not None and "budget" in entry.params


def build_policy(spec: PolicySpec | str, service: ServiceSpec, num_envs: int, **context: Any) -> Policy:
    """Build the policy a spec names for ``num_envs`` copies of ``service``. ``context``
    carries what a registered factory needs beyond its parameters."""
    if isinstance(spec, str):
        spec = parse_policy_spec(spec)
    entry = _REGISTRY.get(spec.name)
    if entry is None:
        raise PolicySpecError(f"unknown policy '{spec.name}'; known policies: {_known()}")
    if entry.factory is None and entry.lazy_module is not None:
        try:
            importlib.import_module(entry.lazy_module)
        except ImportError as exc:
            raise PolicySpecError(
                f"{spec.name}: policy module {entry.lazy_module} could not be imported ({exc}); "
                "it is provided by the learning part of rlscale"
            ) from exc
        entry = _REGISTRY[spec.name]
        if entry.factory is None:
            raise PolicySpecError(
                f"{spec.name}: {entry.lazy_module} did not call register_policy('{spec.name}', ...)"
            )
    assert entry.factory is not None
    try:
        if entry.params_dict:
            return entry.factory(service, num_envs, dict(spec.params), **context)
        return entry.factory(service, num_envs, **spec.params, **context)
    except PolicySpecError:
        raise
    except (ValueError, TypeError) as exc:
        raise PolicySpecError(f"{spec}: {exc}") from exc


# --- the built-in policies -------------------------------------------------------------------

_BEHAVIOR = ParamSpec("choice", "nil (Path A) or default (Path B)", ("nil", "default"))
_SELECT = ("Max", "Min", "Disabled")


def _hpa_behavior(params: dict[str, Any]) -> Any:
    from rlscale.policies.hpa import HPABehavior, ScalingPolicy, ScalingRules

    custom_keys = {k for k in params if k.startswith(("up_", "down_"))}
    behavior = params.get("behavior", "default" if custom_keys else "nil")
    if behavior == "nil":
        if custom_keys:
            raise PolicySpecError(f"hpa: {', '.join(sorted(custom_keys))} need behavior=default (Path B)")
        return None
    base = HPABehavior()

    def rules(prefix: str, default: ScalingRules) -> ScalingRules:
        keys = [k for k in params if k.startswith(prefix)]
        if not keys:
            return default
        period = float(
            params.get(f"{prefix}period_s", default.policies[0].period_s if default.policies else 15.0)
        )
        policies = []
        if f"{prefix}pods" in params:
            policies.append(ScalingPolicy("Pods", int(params[f"{prefix}pods"]), period))
        if f"{prefix}percent" in params:
            policies.append(ScalingPolicy("Percent", int(params[f"{prefix}percent"]), period))
        if not policies:
            policies = [ScalingPolicy(p.type, p.value, period) for p in default.policies]
        window = params.get(f"{prefix}window_s", default.stabilization_window_s)
        return ScalingRules(
            tuple(policies),
            None if window is None else float(window),
            params.get(f"{prefix}select", default.select_policy),
        )

    return HPABehavior(scale_up=rules("up_", base.scale_up), scale_down=rules("down_", base.scale_down))


def _build_hpa(service: ServiceSpec, num_envs: int, params: dict[str, Any], **_: Any) -> Policy:
    from rlscale.policies.hpa import HPAPolicy

    kw: dict[str, Any] = {"behavior": _hpa_behavior(params)}
    if "target" in params:  # a number, or a (num_envs,) array for a batched sweep
        target = np.asarray(params["target"])
        if not np.all(np.rint(target) == target):
            raise PolicySpecError(f"hpa: parameter 'target' is a whole percent, got {params['target']}")
        kw["target_utilization_pct"] = int(target) if target.ndim == 0 else target.astype(np.int64)
    for key, arg in (
        ("tolerance", "tolerance"),
        ("tolerance_up", "tolerance_up"),
        ("tolerance_down", "tolerance_down"),
        ("sync_s", "sync_period_s"),
        ("window_s", "downscale_stabilization_s"),
        ("cpu_init_s", "cpu_initialization_period_s"),
        ("readiness_delay_s", "initial_readiness_delay_s"),
        ("min", "min_replicas"),
        ("max", "max_replicas"),
    ):
        if key in params:
            kw[arg] = params[key]
    return HPAPolicy(service, num_envs, **kw)


def _build_keda(service: ServiceSpec, num_envs: int, params: dict[str, Any], **_: Any) -> Policy:
    from rlscale.policies.keda import KEDAPolicy

    names = {
        "target": "target_rps_per_replica",
        "activation": "activation_threshold_rps",
        "polling_s": "polling_interval_s",
        "cooldown_s": "cooldown_period_s",
        "initial_cooldown_s": "initial_cooldown_period_s",
        "tolerance": "tolerance",
        "sync_s": "sync_period_s",
        "behavior": "behavior",
        "min": "min_replicas",
        "max": "max_replicas",
    }
    return KEDAPolicy(service, num_envs, **{names[k]: v for k, v in params.items()})


def _build_kpa(service: ServiceSpec, num_envs: int, params: dict[str, Any], **_: Any) -> Policy:
    from rlscale.policies.kpa import KPAPolicy

    names = {
        "target": "target_rps",
        "utilization": "target_utilization",
        "stable_window_s": "stable_window_s",
        "panic_window_pct": "panic_window_percentage",
        "panic_threshold_pct": "panic_threshold_percentage",
        "max_up_rate": "max_scale_up_rate",
        "max_down_rate": "max_scale_down_rate",
        "grace_s": "scale_to_zero_grace_s",
        "min": "min_replicas",
        "max": "max_replicas",
    }
    kw = {names[k]: v for k, v in params.items()}
    if "target_utilization" in kw:
        kw["target_utilization"] = kw["target_utilization"] / 100.0
    return KPAPolicy(service, num_envs, **kw)


def _build_threshold(service: ServiceSpec, num_envs: int, params: dict[str, Any], **_: Any) -> Policy:
    from rlscale.policies.simple import ThresholdPolicy

    kw: dict[str, Any] = {}
    for key in ("upper", "lower"):
        if key in params:
            kw[key] = params[key] / 100.0
    for key, arg in (
        ("step_up", "step_up"),
        ("step_down", "step_down"),
        ("cooldown_s", "cooldown_s"),
        ("min", "min_replicas"),
        ("max", "max_replicas"),
    ):
        if key in params:
            kw[arg] = params[key]
    return ThresholdPolicy(service, num_envs, **kw)


def _build_static(service: ServiceSpec, num_envs: int, params: dict[str, Any], **_: Any) -> Policy:
    from rlscale.policies.simple import StaticPolicy

    return StaticPolicy(service, num_envs, replicas=params.get("replicas"))


def _build_predictive(service: ServiceSpec, num_envs: int, params: dict[str, Any], **_: Any) -> Policy:
    from rlscale.policies.simple import PredictivePolicy

    kw: dict[str, Any] = {}
    if "target" in params:
        kw["target_fraction"] = params["target"] / 100.0
    if "headroom" in params:
        kw["headroom"] = params["headroom"] / 100.0
    for key, arg in (
        ("alpha", "alpha"),
        ("beta", "beta"),
        ("horizon_s", "horizon_s"),
        ("season_s", "season_s"),
        ("scale_in_window_s", "scale_in_window_s"),
        ("reactive_target", "reactive_target_pct"),
        ("min", "min_replicas"),
        ("max", "max_replicas"),
    ):
        if key in params:
            kw[arg] = params[key]
    if "reactive" in params:
        kw["reactive"] = params["reactive"] == "on"
    return PredictivePolicy(service, num_envs, **kw)


def _builtin(name: str, factory: PolicyFactory, params: Mapping[str, Any], *, doc: str = "") -> None:
    _register(name, factory, params, positional=None, doc=doc, params_dict=True)


_MINMAX = {"min": ParamSpec("int", "min replicas"), "max": ParamSpec("int", "max replicas")}
#: The ``hpa`` spec's parameters (the evaluation's ``hpa-frontier`` takes them too, but ``target``).
HPA_PARAMS: dict[str, ParamSpec] = {
    "target": ParamSpec(
        "number", f"target CPU utilisation, whole percent (default {k8s.HPA_DEFAULT_CPU_UTILIZATION_PCT})"
    ),
    "tolerance": ParamSpec("number", f"tolerance both ways (default {k8s.HPA_TOLERANCE:g})"),
    "tolerance_up": ParamSpec("number", "scale-up tolerance"),
    "tolerance_down": ParamSpec("number", "scale-down tolerance"),
    "sync_s": ParamSpec("number", f"sync period, s (default {k8s.HPA_SYNC_PERIOD_S:g})"),
    "window_s": ParamSpec(
        "number", f"downscale stabilisation window, s (default {k8s.HPA_DOWNSCALE_STABILIZATION_S:g})"
    ),
    "cpu_init_s": ParamSpec(
        "number", f"CPU initialisation period, s (default {k8s.HPA_CPU_INITIALIZATION_PERIOD_S:g})"
    ),
    "readiness_delay_s": ParamSpec(
        "number", f"initial readiness delay, s (default {k8s.HPA_INITIAL_READINESS_DELAY_S:g})"
    ),
    "behavior": _BEHAVIOR,
    "up_window_s": ParamSpec("number", "scaleUp.stabilizationWindowSeconds"),
    "up_pods": ParamSpec("int", "scaleUp Pods policy value"),
    "up_percent": ParamSpec("int", "scaleUp Percent policy value"),
    "up_period_s": ParamSpec("number", "scaleUp policies' periodSeconds"),
    "up_select": ParamSpec("choice", "scaleUp selectPolicy", _SELECT),
    "down_window_s": ParamSpec("number", "scaleDown.stabilizationWindowSeconds"),
    "down_pods": ParamSpec("int", "scaleDown Pods policy value"),
    "down_percent": ParamSpec("int", "scaleDown Percent policy value"),
    "down_period_s": ParamSpec("number", "scaleDown policies' periodSeconds"),
    "down_select": ParamSpec("choice", "scaleDown selectPolicy", _SELECT),
    **_MINMAX,
}

_builtin("hpa", _build_hpa, HPA_PARAMS, doc="Kubernetes HPA on CPU utilisation")
_builtin(
    "keda",
    _build_keda,
    {
        "target": ParamSpec(
            "number", f"requests/s per replica (default {k8s.KPA_TARGET_UTILIZATION:g} × pod capacity)"
        ),
        "activation": ParamSpec(
            "number", f"activation threshold, requests/s (default {k8s.KEDA_ACTIVATION_THRESHOLD:g})"
        ),
        "polling_s": ParamSpec("number", f"pollingInterval, s (default {k8s.KEDA_POLLING_INTERVAL_S:g})"),
        "cooldown_s": ParamSpec("number", f"cooldownPeriod, s (default {k8s.KEDA_COOLDOWN_PERIOD_S:g})"),
        "initial_cooldown_s": ParamSpec(
            "number", f"initialCooldownPeriod, s (default {k8s.KEDA_INITIAL_COOLDOWN_PERIOD_S:g})"
        ),
        "tolerance": ParamSpec("number", f"HPA tolerance (default {k8s.HPA_TOLERANCE:g})"),
        "sync_s": ParamSpec("number", f"HPA sync period, s (default {k8s.HPA_SYNC_PERIOD_S:g})"),
        "behavior": _BEHAVIOR,
        **_MINMAX,
    },
    doc="KEDA ScaledObject on the request rate",
)
_builtin(
    "kpa",
    _build_kpa,
    {
        "target": ParamSpec("number", "requests/s per pod (default utilization × pod capacity)"),
        "utilization": ParamSpec(
            "number", f"target utilisation, percent (default {100 * k8s.KPA_TARGET_UTILIZATION:g})"
        ),
        "stable_window_s": ParamSpec("number", f"stable window, s (default {k8s.KPA_STABLE_WINDOW_S:g})"),
        "panic_window_pct": ParamSpec(
            "number", f"panic window, % of stable (default {k8s.KPA_PANIC_WINDOW_PERCENTAGE:g})"
        ),
        "panic_threshold_pct": ParamSpec(
            "number", f"panic threshold, % (default {k8s.KPA_PANIC_THRESHOLD_PERCENTAGE:g})"
        ),
        "max_up_rate": ParamSpec("number", f"max scale-up rate (default {k8s.KPA_MAX_SCALE_UP_RATE:g})"),
        "max_down_rate": ParamSpec(
            "number", f"max scale-down rate (default {k8s.KPA_MAX_SCALE_DOWN_RATE:g})"
        ),
        "grace_s": ParamSpec(
            "number", f"scale-to-zero grace period, s (default {k8s.KPA_SCALE_TO_ZERO_GRACE_S:g})"
        ),
        **_MINMAX,
    },
    doc="Knative Pod Autoscaler (RPS mode)",
)
_builtin(
    "threshold",
    _build_threshold,
    {
        "upper": ParamSpec("number", "scale-up CPU threshold, percent (default 80)"),
        "lower": ParamSpec("number", "scale-down CPU threshold, percent (default 30)"),
        "step_up": ParamSpec("int", "replicas added (default 1)"),
        "step_down": ParamSpec("int", "replicas removed (default 1)"),
        "cooldown_s": ParamSpec("number", "least time between actions, s (default 0)"),
        **_MINMAX,
    },
    doc="CPU threshold rule",
)
_builtin(
    "static",
    _build_static,
    {"replicas": ParamSpec("int", "fixed replicas (default max)")},
    doc="fixed replicas",
)
_builtin(
    "predictive",
    _build_predictive,
    {
        "target": ParamSpec("number", "per-pod target, percent of capacity (default 70)"),
        "headroom": ParamSpec("number", "forecast headroom, percent (default 10)"),
        "alpha": ParamSpec("number", "Holt level smoothing (default 0.5)"),
        "beta": ParamSpec("number", "Holt trend smoothing (default 0.3)"),
        "horizon_s": ParamSpec("number", "forecast horizon, s (default start-up + one period)"),
        "season_s": ParamSpec("number", "season for the same-phase max, s (default 0 = off)"),
        "scale_in_window_s": ParamSpec("number", "scale-in rolling-max window, s (default 300)"),
        "reactive": ParamSpec("choice", "compose with a reactive HPA", ("on", "off")),
        "reactive_target": ParamSpec("int", "reactive HPA CPU target percent (default 80)"),
        **_MINMAX,
    },
    doc="Holt forecast + headroom, max with a reactive HPA",
)
_REGISTRY["learned"] = _Entry(
    None,
    {
        "path": ParamSpec("str", "checkpoint directory or file"),
        "memory_floor": ParamSpec("number", "peak-memory floor utilisation (0 = off)"),
        "budget": ParamSpec("number", "SLO error budget kept, fraction"),
        "feedback": ParamSpec("choice", "budget feedback", ("on", "off")),
    },
    positional="path",
    lazy_module="rlscale.policies.learned",
    doc="a trained network (registered by rlscale.policies.learned)",
)


if "learned" not in POLICY_NAMES:
    POLICY_NAMES.append("learned")
