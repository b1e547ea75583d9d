"""Ray as the scale-out engine of ``rlscale evaluate --ray ADDRESS`` (issue 16).

The evaluation's batches (:func:`rlscale.evaluation.runner.plan_tasks`: services, or a
long trace's policy groups) become Ray tasks that each call :func:`run_traces`; the driver
gathers their :class:`PolicyResult` objects and builds the one report exactly as a local run
does. Since an env's numbers never depend on what shares its batch (per-(trace, window, seed)
streams), how the work is cut into tasks cannot change a number (a test compares the reports).

* ``local`` starts an embedded Ray on this machine's cores and shuts it down on exit,
  Ctrl-C included; ``auto`` joins the running cluster (``ray start`` / KubeRay), ``ray://host:port``
  a remote one through Ray Client. Joined clusters are left running.
* A task whose worker dies (OOM kill, lost node) is retried (:data:`TASK_RETRIES`, Ray's
  ``max_retries``); an exception raised by rlscale itself is not retried (it would fail again).
* Ray is an optional extra (``pip install rlscale[ray]``): it is imported only here, and only
  when ``--ray`` is given.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from rlscale.evaluation.runner import run_traces

#: Ray ``max_retries`` of an evaluation task: a worker process that dies is replaced and its
#: task run again this many times before the run fails.
TASK_RETRIES = 3

LOCAL = "local"


class RayUnavailableError(RuntimeError):
    """``--ray`` was given but Ray cannot be used (not installed, cluster unreachable)."""


def check_address(address: str) -> str:
    """``local``, ``auto`` or ``ray://host:port``; anything else is a usage error."""
    if address in (LOCAL, "auto") or (address.startswith("ray://") and len(address) > len("ray://")):
        return address
    raise ValueError(f"--ray must be 'local', 'auto' or 'ray://host:port', got {address!r}")


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError("--ray needs Ray: pip install 'rlscale[ray]' (Ray 2.x from PyPI)") from exc
    return ray


@contextmanager
def ray_session(address: str, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray for one command: a caller's already-initialised Ray is used as is; ``local`` starts
    an embedded one and shuts it down however the block exits (Ctrl-C included); ``auto`` /
    ``ray://`` join a cluster and leave it running. Yields the ``ray`` module."""
    check_address(address)
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        if address == LOCAL:
            path = os.environ.get("PYTHONPATH")
            try:
                ray.init(
                    num_cpus=num_cpus or os.cpu_count() or 1,
                    include_dashboard=False,
                    logging_level="warning",
                    # workers import rlscale from where this process does (a source checkout too)
                    runtime_env={"env_vars": {"PYTHONPATH": path}} if path else None,
                )
            except BaseException:  # Ctrl-C while it starts: stop what has started
                half = _ray_processes()
                ray.shutdown()
                _reap(half)
                raise
            started = True
        else:
            try:
                ray.init(address=address, logging_level="warning")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RayUnavailableError(f"--ray {address}: cannot join the cluster ({exc})") from exc
    ours = _ray_processes() if started else set()
    try:
        yield ray
    finally:
        if started:
            ours |= _ray_processes()
            ray.shutdown()
            _reap(ours)


#: Seconds a Ray process of ours gets to exit after ``ray.shutdown`` before SIGTERM, then SIGKILL.
REAP_GRACE_S = 5.0


def _ray_processes() -> set[Any]:
    """The Ray processes this process started (raylet, GCS, agents, workers)."""
    import psutil  # a dependency of Ray

    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            name, cmd = p.name(), p.cmdline()
        except psutil.Error:
            continue
        if name.startswith("ray::") or name in ("raylet", "gcs_server") or any("/ray/" in c for c in cmd):
            out.add(p)
    return out


def _reap(processes: set[Any]) -> None:
    """Make sure the local Ray is gone: a Ctrl-C reaches the raylet with the rest of the
    foreground process group, and its agents, orphaned, outlive ``ray.shutdown`` (seen with
    Ray 2.60); what is left of ours after a grace period is terminated, then killed."""
    import psutil

    _, alive = psutil.wait_procs(list(processes), timeout=REAP_GRACE_S)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(alive, timeout=REAP_GRACE_S)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


class RayTaskRunner:
    """A :class:`rlscale.evaluation.runner.TaskRunner` on Ray; a context manager around
    :func:`ray_session`."""

    def __init__(
        self, address: str, *, num_cpus: int | None = None, task_retries: int = TASK_RETRIES
    ) -> None:
        self.address = check_address(address)
        self.num_cpus = num_cpus
        self.task_retries = task_retries
        self.parallelism = 1
        self._ray: Any = None
        self._session: Any = None

    def __enter__(self) -> RayTaskRunner:
        self._session = ray_session(self.address, self.num_cpus)
        self._ray = self._session.__enter__()
        self.parallelism = max(1, int(self._ray.cluster_resources().get("CPU", 1)))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._session.__exit__(exc_type, exc, tb)

    def map(
        self,
        calls: list[tuple[tuple[object, ...], dict[str, object]]],
        sizes: list[int],
        advance: Callable[[int], None],
        fn: Callable[..., Any] = run_traces,
    ) -> list[Any]:
        """Each call as one Ray task, results in call order; ``advance(size)`` as each ends.
        Ctrl-C cancels what is still queued or running before it propagates."""
        ray = self._ray
        if ray is None:
            raise RuntimeError("RayTaskRunner.map outside its 'with' block")
        remote = ray.remote(num_cpus=1, max_retries=self.task_retries, retry_exceptions=False)(fn)
        shared: dict[int, Any] = {}  # one object-store copy of what many tasks share (the params)

        def put(value: object) -> object:
            if isinstance(value, list | tuple | dict | str | int | float | bool) or value is None:
                return value
            if id(value) not in shared:
                shared[id(value)] = ray.put(value)
            return shared[id(value)]

        refs = [remote.remote(*(put(a) for a in args), **kwargs) for args, kwargs in calls]
        size_of = {ref.hex(): size for ref, size in zip(refs, sizes, strict=True)}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    advance(size_of[ref.hex()])
            return list(ray.get(refs))
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
