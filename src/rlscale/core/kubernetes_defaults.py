"""The Kubernetes, KEDA and Knative autoscaling defaults, stated once.

Every baseline (``policies.hpa``, ``policies.keda``, ``policies.kpa``), the live guard's
defaults (``safety.guard``), the ``RLAutoscaler`` CRD and ``rlscale run`` read these names, so
"what the HPA does by default" has one answer. Each value cites where it is defined upstream;
reference/autoscalers.md (§1.1, §3.1, §4.1) paraphrases those sources with the
commits read. Change a value only when upstream does, and say which release.
"""

from __future__ import annotations

# --- HPA controller flags: kubernetes pkg/controller/podautoscaler/config/v1alpha1/defaults.go
#: ``--horizontal-pod-autoscaler-sync-period``: one reconcile of each HPA per 15 s.
HPA_SYNC_PERIOD_S = 15.0
#: ``--horizontal-pod-autoscaler-tolerance``: no change while the usage ratio is within ±10 %.
HPA_TOLERANCE = 0.1
#: ``--horizontal-pod-autoscaler-downscale-stabilization``: the 5-minute rolling maximum.
HPA_DOWNSCALE_STABILIZATION_S = 300.0
#: ``--horizontal-pod-autoscaler-cpu-initialization-period`` (groupPods, reference §1.4).
HPA_CPU_INITIALIZATION_PERIOD_S = 300.0
#: ``--horizontal-pod-autoscaler-initial-readiness-delay`` (same rule).
HPA_INITIAL_READINESS_DELAY_S = 30.0

# --- HPA controller internals: pkg/controller/podautoscaler/horizontal.go (Path A, behavior nil)
#: ``scaleUpLimitFactor`` / ``scaleUpLimitMinimum``: at most ``max(2·current, 4)`` per sync.
HPA_SCALE_UP_LIMIT_FACTOR = 2.0
HPA_SCALE_UP_LIMIT_MINIMUM = 4.0

# --- HPA API defaults and limits: pkg/apis/autoscaling/v2/defaults.go, HPAScalingRules docs
#: ``DefaultCPUUtilization`` (pkg/apis/autoscaling): the metric when none is given.
HPA_DEFAULT_CPU_UTILIZATION_PCT = 80
#: Default ``behavior.scaleUp`` policies (``value`` is an int32 in the API): Pods 4 and Percent 100, each per 15 s, selectPolicy
#: Max (``scaleUpLimitMinimumPods``, ``scaleUpLimitPercent``, ``scaleUpPeriod``), window 0 s.
HPA_SCALE_UP_PODS = 4
HPA_SCALE_UP_PERCENT = 100
HPA_SCALE_UP_PERIOD_S = 15.0
HPA_SCALE_UP_STABILIZATION_S = 0.0
#: Default ``behavior.scaleDown`` policy: Percent 100 per 15 s, selectPolicy Max; its window is
#: left nil and filled from ``HPA_DOWNSCALE_STABILIZATION_S`` by the controller.
HPA_SCALE_DOWN_PERCENT = 100
HPA_SCALE_DOWN_PERIOD_S = 15.0
#: ``stabilizationWindowSeconds`` ∈ [0, 3600]; a policy's ``periodSeconds`` ≤ 1800.
HPA_MAX_STABILIZATION_S = 3600.0
HPA_MAX_POLICY_PERIOD_S = 1800.0

# --- KEDA ScaledObject defaults: keda-docs 2.17 reference/scaledobject-spec.md (reference §3.1)
KEDA_POLLING_INTERVAL_S = 30.0
#: Wait after the last active trigger before scaling to zero (N→1 is the HPA's).
KEDA_COOLDOWN_PERIOD_S = 300.0
KEDA_INITIAL_COOLDOWN_PERIOD_S = 0.0
#: Prometheus scaler ``activationThreshold`` default (scalers/prometheus.md, reference §3.3).
KEDA_ACTIVATION_THRESHOLD = 0.0

# --- Knative config-autoscaler: knative/serving config/core/configmaps/autoscaler.yaml (§4.1)
KPA_STABLE_WINDOW_S = 60.0
#: The panic window as a percentage of the stable window (10 % of 60 s = 6 s).
KPA_PANIC_WINDOW_PERCENTAGE = 10.0
#: Enter panic when the panic window wants ≥ 2× the ready pods.
KPA_PANIC_THRESHOLD_PERCENTAGE = 200.0
KPA_MAX_SCALE_UP_RATE = 1000.0
KPA_MAX_SCALE_DOWN_RATE = 2.0
KPA_SCALE_TO_ZERO_GRACE_S = 30.0
#: ``container-concurrency-target-percentage``: ``defaultTargetUtilization = 0.7``
#: (pkg/autoscaler/config/config.go).
KPA_TARGET_UTILIZATION = 0.7
