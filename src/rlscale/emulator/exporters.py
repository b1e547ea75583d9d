"""The emulated cluster as real exporters show it to Prometheus: cAdvisor's container CPU and
memory, kube-state-metrics' Deployment and Pod series, and the service's ingress counters and
latency histogram, in the names and labels those exporters use (docs/live.md), so the live
controller's default queries read the emulator unchanged."""

from __future__ import annotations

from typing import Any

from rlscale.emulator.model import LATENCY_BUCKETS_S
from rlscale.emulator.services import CONTAINER_IMAGE, NODE_NAME

#: kube-state-metrics' Deployment replica gauges: (name, help), in the order exporter_metrics() unpacks them.
_DEPLOYMENT_GAUGES = (
    ("kube_deployment_spec_replicas", "Number of desired pods for a deployment."),
    ("kube_deployment_status_replicas", "The number of replicas per deployment."),
    ("kube_deployment_status_replicas_ready", "The number of ready replicas per deployment."),
    ("kube_deployment_status_replicas_available", "The number of available replicas per deployment."),
)


def _le(bound: float) -> str:
    return repr(float(bound))


def exporter_metrics(cluster: Any) -> list:  # list[prometheus_client.Metric]
    """The exporters' metric families of a :class:`~rlscale.emulator.cluster.Cluster` at this
    instant (counters interpolated, see that module), read under its lock."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    with cluster._lock:
        elapsed = max(0.0, cluster.clock() - cluster._t_last)
        cpu = CounterMetricFamily(
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed in seconds (cAdvisor).",
            labels=["namespace", "pod", "container", "image", "node"],
        )
        mem = GaugeMetricFamily(
            "container_memory_working_set_bytes",
            "Current working set in bytes (cAdvisor).",
            labels=["namespace", "pod", "container", "image", "node"],
        )
        spec_rep, st_rep, st_ready, st_avail = (
            GaugeMetricFamily(metric, text, labels=["namespace", "deployment"])
            for metric, text in _DEPLOYMENT_GAUGES
        )
        requests = GaugeMetricFamily(
            "kube_pod_container_resource_requests",
            "The number of requested request resource by a container.",
            labels=["namespace", "pod", "container", "node", "resource", "unit"],
        )
        pod_ready = GaugeMetricFamily(
            "kube_pod_status_ready",
            "Describes whether the pod is ready to serve requests.",
            labels=["namespace", "pod", "condition"],
        )
        pod_phase = GaugeMetricFamily(
            "kube_pod_status_phase", "The pods current phase.", labels=["namespace", "pod", "phase"]
        )
        http_total = CounterMetricFamily(
            "http_requests_total",
            "Requests received by the service's ingress.",
            labels=["namespace", "service"],
        )
        http_dropped = CounterMetricFamily(
            "http_requests_dropped_total",
            "Requests dropped (queue overflow or timeout) by the service.",
            labels=["namespace", "service"],
        )
        hist = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Latency of served requests.",
            labels=["namespace", "service"],
        )
        sim_time = GaugeMetricFamily("rlscale_emulator_sim_time_seconds", "Simulated seconds since start.")
        sim_time.add_metric([], cluster.sim_time_s)
        offered_g = GaugeMetricFamily(
            "rlscale_emulator_offered_load_rps",
            "Offered load of the current step, req per simulated second (ground truth).",
            labels=["namespace", "service"],
        )
        for (ns, name), state in cluster._services.items():
            out = state.last
            spec = state.svc.params.spec
            desired = cluster._desired(state)
            ready_n = sum(p.ready for p in state.pods)
            spec_rep.add_metric([ns, name], desired)
            st_rep.add_metric([ns, name], len(state.pods))
            st_ready.add_metric([ns, name], ready_n)
            st_avail.add_metric([ns, name], ready_n)
            offered_g.add_metric([ns, name], state.offered_now_rps)
            mem_per_pod = (
                spec.memory_request_gib * 2**30 * (0.6 + 0.2 * (out.cpu_cores_per_ready_pod if out else 0.0))
            )
            for pod in state.pods:
                requests.add_metric([ns, pod.name, name, NODE_NAME, "cpu", "core"], spec.cpu_request_cores)
                requests.add_metric(
                    [ns, pod.name, name, NODE_NAME, "memory", "byte"], spec.memory_request_gib * 2**30
                )
                for cond in ("true", "false", "unknown"):
                    value = 1.0 if (cond == "true") == pod.ready and cond != "unknown" else 0.0
                    pod_ready.add_metric([ns, pod.name, cond], value)
                for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
                    on = (phase == "Running") if pod.ready else (phase == "Pending")
                    pod_phase.add_metric([ns, pod.name, phase], 1.0 if on else 0.0)
                if pod.ready:  # cAdvisor has no series until the container runs
                    rate = out.cpu_cores_per_ready_pod if out else 0.0
                    labels = [ns, pod.name, name, CONTAINER_IMAGE, NODE_NAME]
                    cpu.add_metric(labels, pod.cpu_seconds + rate * elapsed)
                    mem.add_metric(labels, mem_per_pod)
            served = out.served_rps if out else 0.0
            http_total.add_metric(
                [ns, name], state.requests_total + (out.offered_rps if out else 0.0) * elapsed
            )
            http_dropped.add_metric(
                [ns, name], state.dropped_total + (out.dropped_rps if out else 0.0) * elapsed
            )
            count = state.latency_count + served * elapsed
            buckets = [
                (
                    _le(bound),
                    state.bucket_totals[i] + served * (out.bucket_fractions[i] if out else 0.0) * elapsed,
                )
                for i, bound in enumerate(LATENCY_BUCKETS_S)
            ]
            buckets.append(("+Inf", count))
            hist.add_metric(
                [ns, name],
                buckets=buckets,
                sum_value=state.latency_sum + served * (out.mean_latency_s if out else 0.0) * elapsed,
            )
        return [
            cpu,
            mem,
            spec_rep,
            st_rep,
            st_ready,
            st_avail,
            requests,
            pod_ready,
            pod_phase,
            http_total,
            http_dropped,
            hist,
            sim_time,
            offered_g,
        ]
