"""rlscale: a reinforcement-learning autoscaler for Kubernetes.

Layers (DESIGN.md §1, enforced by import-linter): ``core`` at the bottom; ``workload``,
``sim``, ``safety``, ``nets`` above it; then ``envs`` and ``policies``; then ``evaluation``,
``controller`` and ``emulator``; then ``agents`` and ``forecast``; ``cli`` on top.
"""

__version__ = "0.1.0"
