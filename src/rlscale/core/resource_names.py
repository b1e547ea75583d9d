"""The ``RLAutoscaler`` custom resource's API names: group, version, kind, plural, singular and
short names. The controller's CRD manifest (``controller.crd``) and the emulated API server's
discovery table (``emulator.resources``) both read them from here, so the resource the operator
watches and the one the emulator serves cannot drift apart (the two layers do not import each
other)."""

from __future__ import annotations

GROUP = "rlscale.io"
VERSION = "v1alpha1"
KIND = "RLAutoscaler"
PLURAL = "rlautoscalers"
SINGULAR = "rlautoscaler"
SHORT_NAMES: tuple[str, ...] = ("rla",)
