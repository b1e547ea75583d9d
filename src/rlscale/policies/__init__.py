"""Everything that scales, behind one protocol (DESIGN.md §5): the HPA, KEDA, KPA, simple
baselines, the clairvoyant oracle (built by the evaluation, which knows the future load) and (registered by ``learned.py``) trained networks.

Kept light: only the protocol and the SPEC registry load here; each policy module is
imported when a policy is built.
"""

from rlscale.policies.base import Policy
from rlscale.policies.registry import (
    POLICY_NAMES,
    ParamSpec,
    PolicySpec,
    PolicySpecError,
    build_policy,
    parse_policy_spec,
    register_policy,
)

__all__ = [
    "POLICY_NAMES",
    "ParamSpec",
    "Policy",
    "PolicySpec",
    "PolicySpecError",
    "build_policy",
    "parse_policy_spec",
    "register_policy",
]
