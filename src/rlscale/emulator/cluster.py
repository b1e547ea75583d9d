"""The emulated cluster: Deployments and Pods in the object store, driven in real time by
the simulator's service model (the services it runs: :mod:`rlscale.emulator.services`; the
exporters' view of it for Prometheus: :mod:`rlscale.emulator.exporters`).

Each emulated service is one Deployment (``app=<name>``). Every ``step_s / speedup`` wall
seconds the cluster advances one step of ``step_s`` simulated seconds: pods whose start-up
delay has elapsed become Running and Ready, the ready pods serve the offered load
(:class:`rlscale.emulator.model.ServiceModel`), and the Deployment's status is updated.
Pods follow ``spec.replicas`` as soon as it changes (the ReplicaSet controller is fast
next to a pod's start-up): new pods are Pending, surplus pods are deleted not-ready first,
then newest first (ReplicaSet ``ActivePodsWithRanks`` ordering).

Metrics are in the names real exporters use (docs/live.md lists them). Counters advance
continuously at the current step's *simulated per-second* rates over *wall* time, so
``rate()`` in Prometheus reads the simulated request rate whatever the speed-up; a speed-up
compresses the load curve and the start-up delays in time, not the rates.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from rlscale.core.time_steps import seconds_to_steps
from rlscale.emulator import resources as res
from rlscale.emulator.exporters import exporter_metrics
from rlscale.emulator.model import LATENCY_BUCKETS_S, ServiceModel, StepOutcome
from rlscale.emulator.services import CONTAINER_IMAGE, NODE_NAME, EmulatedService, constant_load, fast_params
from rlscale.emulator.store import JsonObj, ObjectStore, now_rfc3339
from rlscale.sim.params import ServiceParams

#: generateName's random suffix: 5 characters from this alphabet (no vowels, no look-alikes;
#: k8s.io/apiserver/pkg/storage/names/generate.go, randomLength = 5, via utilrand.String).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAME_RANDOM_LENGTH = 5
#: The apiserver's retries of a generated name that collides (RetryGenerateName: 7 retries).
GENERATE_NAME_ATTEMPTS = 8


@dataclass
class _Pod:
    name: str
    created_step: int
    ready_step: int
    ready: bool = False
    cpu_seconds: float = 0.0  # counter value at ``t_last`` of the service
    memory_bytes: float = 0.0


@dataclass
class _ServiceState:
    svc: EmulatedService
    model: ServiceModel
    template_hash: str
    pods: list[_Pod] = field(default_factory=list)
    # counters at the last step, and their current per-second rates (see module doc)
    requests_total: float = 0.0
    dropped_total: float = 0.0
    latency_count: float = 0.0
    latency_sum: float = 0.0
    bucket_totals: list[float] = field(default_factory=lambda: [0.0] * len(LATENCY_BUCKETS_S))
    last: StepOutcome | None = None
    offered_now_rps: float = 0.0


class Cluster:
    """The simulated side of the emulator. All methods run on the emulator's event loop
    thread except :meth:`snapshot` and :meth:`collect`, which take the lock."""

    def __init__(
        self,
        store: ObjectStore,
        services: list[EmulatedService],
        *,
        step_s: float,
        speedup: float = 1.0,
        seed: int = 0,
        default_params: ServiceParams | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (step_s > 0 and speedup > 0):
            raise ValueError(f"Cluster: step_s and speedup must be > 0, got {step_s}, {speedup}")
        self.store = store
        self.step_s = float(step_s)
        self.speedup = float(speedup)
        self.rng = np.random.default_rng(seed)
        self.clock = clock
        self.default_params = default_params or fast_params("default")
        self.steps = 0
        self._lock = threading.RLock()
        self._services: dict[tuple[str, str], _ServiceState] = {}
        self._t_last = clock()
        self._writing = False
        for svc in services:
            self.add_service(svc)

    # -- setup ------------------------------------------------------------------------
    @property
    def sim_time_s(self) -> float:
        return self.steps * self.step_s

    @property
    def wall_step_s(self) -> float:
        return self.step_s / self.speedup

    def add_service(self, svc: EmulatedService) -> None:
        """Create the service's namespace (if needed), Deployment and initial pods."""
        params = svc.params
        if params.spec.name != svc.name:
            params = replace(params, spec=replace(params.spec, name=svc.name))
            svc = replace(svc, params=params)
        if abs(params.step_s - self.step_s) > 1e-9:
            raise ValueError(
                f"service {svc.name!r}: its step_s {params.step_s} differs from the cluster's {self.step_s}; "
                "one cluster steps all services together"
            )
        replicas = params.spec.min_replicas if svc.initial_replicas is None else svc.initial_replicas
        with self._lock:
            self._ensure_namespace(svc.namespace)
            state = _ServiceState(
                svc=svc,
                model=ServiceModel(params, self.rng),
                template_hash=hashlib.sha1(f"{svc.namespace}/{svc.name}".encode()).hexdigest()[:10],
            )
            self._services[(svc.namespace, svc.name)] = state
            if self.store.peek(res.DEPLOYMENTS, svc.namespace, svc.name) is None:
                self._writing = True
                try:
                    self.store.create(
                        res.DEPLOYMENTS, svc.namespace, self._deployment_manifest(svc, replicas)
                    )
                finally:
                    self._writing = False
            self._reconcile_pods(state, initial=True)
            self._write_deployment_status(state)

    def _ensure_namespace(self, namespace: str) -> None:
        if self.store.peek(res.NAMESPACES, None, namespace) is None:
            self.store.create(
                res.NAMESPACES,
                None,
                {
                    "metadata": {"name": namespace},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                },
            )

    @staticmethod
    def _container(svc: EmulatedService) -> JsonObj:
        spec = svc.params.spec
        cpu_m = round(spec.cpu_request_cores * 1000)
        mem_mi = round(spec.memory_request_gib * 1024)
        limit_m = round(float(svc.params.cpu_limit_cores) * 1000)
        return {
            "name": svc.name,
            "image": CONTAINER_IMAGE,
            "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
            "resources": {
                "requests": {"cpu": f"{cpu_m}m", "memory": f"{mem_mi}Mi"},
                "limits": {"cpu": f"{limit_m}m", "memory": f"{mem_mi}Mi"},
            },
        }

    def _deployment_manifest(self, svc: EmulatedService, replicas: int) -> JsonObj:
        labels = {"app": svc.name}
        return {
            "metadata": {"name": svc.name, "namespace": svc.namespace, "labels": labels},
            "spec": {
                "replicas": int(replicas),
                "selector": {"matchLabels": labels},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                },
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [self._container(svc)]}},
            },
        }

    def scale_capacity(self, namespace: str, name: str, factor: float) -> None:
        """Multiply a service's per-pod capacity by ``factor`` from now on: a service that got
        slower than its spec (a bad release, a noisy neighbour), for closed-loop tests."""
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"scale_capacity: factor must be > 0, got {factor}")
        with self._lock:
            state = self._services.get((namespace, name))
            if state is None:
                raise KeyError(f"no emulated service {namespace}/{name}")
            state.model.mu_rps *= factor

    # -- API hooks ----------------------------------------------------------------------
    def on_deployment_written(self, namespace: str, name: str) -> None:
        """Called by the API after any write to a Deployment: follow spec.replicas now."""
        if self._writing:
            return
        with self._lock:
            key = (namespace, name)
            if self.store.peek(res.DEPLOYMENTS, namespace, name) is None:  # deleted
                state = self._services.pop(key, None)
                if state is not None:
                    for pod in state.pods:
                        self._delete_pod(state, pod)
                return
            if key not in self._services:  # created through the API: idle service, default model
                params = replace(self.default_params, spec=replace(self.default_params.spec, name=name))
                svc = EmulatedService(name=name, params=params, load=constant_load(0.0), namespace=namespace)
                self._services[key] = _ServiceState(
                    svc=svc,
                    model=ServiceModel(params, self.rng),
                    template_hash=hashlib.sha1(f"{namespace}/{name}".encode()).hexdigest()[:10],
                )
            state = self._services[key]
            self._reconcile_pods(state)
            self._write_deployment_status(state)

    # -- pods -------------------------------------------------------------------------
    def _desired(self, state: _ServiceState) -> int:
        dep = self.store.peek(res.DEPLOYMENTS, state.svc.namespace, state.svc.name)
        return int((dep or {}).get("spec", {}).get("replicas", 0) or 0)

    def _startup_steps(self, params: ServiceParams) -> int:
        lo, hi = float(params.startup_delay_min_s), float(params.startup_delay_max_s)
        delay = lo if hi <= lo else float(self.rng.uniform(lo, hi))
        return max(1, seconds_to_steps(delay, self.step_s))  # rounded up to whole steps, as the sim

    def _reconcile_pods(self, state: _ServiceState, initial: bool = False) -> None:
        desired = self._desired(state)
        while len(state.pods) < desired:
            startup = 0 if initial else self._startup_steps(state.svc.params)
            pod = _Pod(
                name=self._new_pod_name(state),
                created_step=self.steps,
                ready_step=self.steps + startup,
                ready=initial,
            )
            state.pods.append(pod)
            self.store.create(res.PODS, state.svc.namespace, self._pod_manifest(state, pod))
        if len(state.pods) > desired:
            # ReplicaSet deletion ranking: not-ready before ready, then newest first.
            ranked = sorted(state.pods, key=lambda p: (p.ready, -p.created_step))
            for pod in ranked[: len(state.pods) - desired]:
                self._delete_pod(state, pod)

    def _new_pod_name(self, state: _ServiceState) -> str:
        """``<deployment>-<template hash>-<5 random>``, drawn again on a collision as the
        apiserver does for ``generateName`` (RetryGenerateName, GA in 1.32): a single draw
        made ``--replicas 100000`` crash and a scale to 3000 answer 409 after applying it."""
        prefix = f"{state.svc.name}-{state.template_hash}-"
        for _ in range(GENERATE_NAME_ATTEMPTS):
            chars = self.rng.integers(len(NAME_ALPHABET), size=NAME_RANDOM_LENGTH)
            name = prefix + "".join(NAME_ALPHABET[i] for i in chars)
            if self.store.peek(res.PODS, state.svc.namespace, name) is None:
                return name
        raise RuntimeError(f"no free pod name for {prefix}* after {GENERATE_NAME_ATTEMPTS} draws")

    def _delete_pod(self, state: _ServiceState, pod: _Pod) -> None:
        state.pods.remove(pod)
        if self.store.peek(res.PODS, state.svc.namespace, pod.name) is not None:
            self.store.delete(res.PODS, state.svc.namespace, pod.name)

    def _pod_manifest(self, state: _ServiceState, pod: _Pod) -> JsonObj:
        svc = state.svc
        return {
            "metadata": {
                "name": pod.name,
                "namespace": svc.namespace,
                "labels": {"app": svc.name, "pod-template-hash": state.template_hash},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": f"{svc.name}-{state.template_hash}",
                        "uid": hashlib.sha1(state.template_hash.encode()).hexdigest()[:8],
                        "controller": True,
                    }
                ],
            },
            "spec": {"nodeName": NODE_NAME, "containers": [self._container(svc)]},
            "status": self._pod_status(svc, pod),
        }

    @staticmethod
    def _pod_status(svc: EmulatedService, pod: _Pod) -> JsonObj:
        ready = "True" if pod.ready else "False"
        container: JsonObj = {
            "name": svc.name,
            "image": CONTAINER_IMAGE,
            "imageID": f"docker.io/{CONTAINER_IMAGE}@sha256:{hashlib.sha256(CONTAINER_IMAGE.encode()).hexdigest()}"
            if pod.ready
            else "",
            "ready": pod.ready,
            "restartCount": 0,
        }
        if pod.ready:
            container["started"] = True
            container["state"] = {"running": {"startedAt": now_rfc3339()}}
        else:
            container["started"] = False
            container["state"] = {"waiting": {"reason": "ContainerCreating"}}
        return {
            "phase": "Running" if pod.ready else "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": ready},
                {"type": "Ready", "status": ready},
            ],
            "containerStatuses": [container],
            "hostIP": "10.0.0.1",
            "podIP": f"10.244.0.{int(hashlib.sha1(pod.name.encode()).hexdigest(), 16) % 250 + 2}",
            "qosClass": "Burstable",
        }

    def _write_deployment_status(self, state: _ServiceState) -> None:
        dep = self.store.peek(res.DEPLOYMENTS, state.svc.namespace, state.svc.name)
        if dep is None:
            return
        n = len(state.pods)
        ready = sum(p.ready for p in state.pods)
        desired = self._desired(state)
        available = "True" if ready >= desired or ready >= 1 else "False"
        status = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": n,
            "updatedReplicas": n,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {"type": "Available", "status": available, "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }
        if n - ready > 0:
            status["unavailableReplicas"] = n - ready
        if dep.get("status") != status:
            self._writing = True
            try:
                self.store.replace(
                    res.DEPLOYMENTS,
                    state.svc.namespace,
                    state.svc.name,
                    {"status": status},
                    subresource="status",
                )
            finally:
                self._writing = False

    # -- stepping ---------------------------------------------------------------------
    def step(self) -> None:
        """Advance every service by one step (``step_s`` simulated seconds)."""
        with self._lock:
            now = self.clock()
            self._commit_counters(now)
            self.steps += 1
            t_sim = self.sim_time_s
            for state in list(self._services.values()):
                self._reconcile_pods(state)
                for pod in state.pods:
                    if not pod.ready and pod.ready_step <= self.steps:
                        pod.ready = True
                        obj = self.store.peek(res.PODS, state.svc.namespace, pod.name)
                        if obj is not None:
                            self.store.replace(
                                res.PODS,
                                state.svc.namespace,
                                pod.name,
                                {"status": self._pod_status(state.svc, pod)},
                                subresource="status",
                            )
                ready = sum(p.ready for p in state.pods)
                offered = max(0.0, float(state.svc.load(t_sim)))
                state.offered_now_rps = offered
                state.last = state.model.step(offered, ready, self.step_s)
                self._write_deployment_status(state)

    def _commit_counters(self, now: float) -> None:
        """Fold the counters' progress since the last step into their stored values."""
        elapsed = max(0.0, now - self._t_last)
        self._t_last = now
        for state in self._services.values():
            out = state.last
            if out is None:
                continue
            state.requests_total += out.offered_rps * elapsed
            state.dropped_total += out.dropped_rps * elapsed
            state.latency_count += out.served_rps * elapsed
            state.latency_sum += out.served_rps * out.mean_latency_s * elapsed
            for i, frac in enumerate(out.bucket_fractions):
                state.bucket_totals[i] += out.served_rps * frac * elapsed
            for pod in state.pods:
                if pod.ready:
                    pod.cpu_seconds += out.cpu_cores_per_ready_pod * elapsed

    # -- views --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, float]]:
        """Current per-service state, keyed ``namespace/name`` (for tests and the CLI)."""
        with self._lock:
            out = {}
            for (ns, name), state in self._services.items():
                last = state.last
                out[f"{ns}/{name}"] = {
                    "sim_time_s": self.sim_time_s,
                    "desired_replicas": float(self._desired(state)),
                    "pods": float(len(state.pods)),
                    "ready_replicas": float(sum(p.ready for p in state.pods)),
                    "offered_rps": state.offered_now_rps,
                    "served_rps": last.served_rps if last else 0.0,
                    "dropped_rps": last.dropped_rps if last else 0.0,
                    "backlog_requests": last.backlog_requests if last else 0.0,
                    "latency_p95_s": last.latency_p95_s if last else float("nan"),
                    "cpu_cores_per_ready_pod": last.cpu_cores_per_ready_pod if last else 0.0,
                }
            return out

    def collect(self) -> list:  # list[prometheus_client.Metric]
        """The exporters' metric families at this instant (:mod:`rlscale.emulator.exporters`)."""
        return exporter_metrics(self)
