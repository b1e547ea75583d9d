"""Where ``rlscale run`` keeps its downscale window between restarts: a ConfigMap.

The HPA keeps its recommendations in memory and re-seeds them with the current count after a
restart, which holds the current pods for a whole window (300 s by default) during a falling
load. The operator keeps the window in the CR's status; ``rlscale run`` has no CR, so with
``--window-configmap NAME`` it writes the window (a few ``(time, replicas)`` entries, only when
they change) to ``data.recommendations`` of that ConfigMap and reads it back at start.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)

#: The ConfigMap key holding the window (JSON list of {"time": clock seconds, "replicas": n}).
DATA_KEY = "recommendations"


class ConfigMapWindowStore:
    """``load()`` and ``save(records)`` of one controller's window in ``namespace/name``."""

    def __init__(self, core_api: Any, namespace: str, name: str, target: str) -> None:
        """``core_api`` is a ``kubernetes.client.CoreV1Api``; ``target`` labels the data."""
        self.api = core_api
        self.namespace = namespace
        self.name = name
        self.target = target

    def load(self) -> list[tuple[float, int]]:
        """The saved window; ``[]`` when there is none (first start) or it is unreadable."""
        from kubernetes.client.exceptions import ApiException

        try:
            cm = self.api.read_namespaced_config_map(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                log.warning("window ConfigMap %s/%s not read: %s", self.namespace, self.name, exc.reason)
            return []
        try:
            data = json.loads((cm.data or {}).get(DATA_KEY, "[]"))
            return [(float(d["time"]), int(d["replicas"])) for d in data]
        except (ValueError, TypeError, KeyError) as exc:
            log.warning(
                "window ConfigMap %s/%s: bad %s (%s); starting a new window",
                self.namespace,
                self.name,
                DATA_KEY,
                exc,
            )
            return []

    def save(self, records: list[tuple[float, int]]) -> None:
        """Write the window (create the ConfigMap the first time); API errors are raised."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        data = {
            DATA_KEY: json.dumps([{"time": round(t, 3), "replicas": r} for t, r in records]),
            "target": self.target,
        }
        try:
            self.api.patch_namespaced_config_map(self.name, self.namespace, {"data": data})
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1ConfigMap(
                metadata=client.V1ObjectMeta(
                    name=self.name,
                    namespace=self.namespace,
                    labels={"app.kubernetes.io/managed-by": "rlscale"},
                ),
                data=data,
            )
            self.api.create_namespaced_config_map(self.namespace, body)
