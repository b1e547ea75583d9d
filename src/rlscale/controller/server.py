"""The policy server (``rlscale serve``): the seed-001 server/client mode over HTTP JSON.

``POST /v1/act`` answers an observation (or the ScalingSignals fields) with an action and a
desired replica count; ``POST /v1/log_returns`` takes experience tuples; with online learning
on, the served policy is refitted from that experience every ``update_interval_s``.
``GET /healthz``, ``GET /metrics`` (Prometheus) and ``GET /openapi.json`` (the OpenAPI 3
description of all of it). Each answer carries the policy's own ``reasons`` and says how many
earlier calls for its ``target`` shaped it (the served policy keeps per-target history).

Binds 127.0.0.1 by default; an optional bearer token guards the ``/v1`` endpoints (health and
the spec stay open for probes). A malformed request gets a 4xx with a JSON error naming the
field, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import math
import threading
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiohttp import web

from rlscale.controller.loop import policy_reasons_of
from rlscale.controller.online_learner import Experience, LinearQPolicy
from rlscale.controller.server_openapi import openapi_spec
from rlscale.controller.server_requests import (
    MAX_EXPERIENCE_MAGNITUDE,
    MAX_EXPERIENCES_PER_REQUEST,
    MAX_REPLICAS,
    MAX_TARGET_LEN,
    SIGNAL_FIELDS,
    RequestError,
    parse_number,
    parse_object,
    parse_signals,
    parse_vector,
)
from rlscale.controller.telemetry import ServerMetrics
from rlscale.core.clock import Clock, SystemClock
from rlscale.core.decision import Decision, Reason
from rlscale.core.observation import OBSERVATION_FEATURES, ObservationBuilder, observation_size
from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.safety.guard import Guard, GuardConfig, GuardInput, RateLimits


class PolicyService:
    """The server's logic without HTTP, so it is testable directly.

    Serves either a :class:`Policy` on signals (one instance per target from
    ``policy_factory``, since policies keep per-service state) or an online
    :class:`LinearQPolicy` on observations (built server-side from signals when needed).

    Every answer passes the same safety guard as the controller's (per target: bounds, then
    the HPA's rate limits; no stabilisation, which is the client's to keep), so no policy,
    however wrong, is answered outside ``[min_replicas, max_replicas]``. A policy that
    raises or returns garbage is answered with the current count and a named reason.
    Time is the server's clock unless a request gives ``signals.time_s``.
    """

    def __init__(
        self,
        spec: ServiceSpec,
        *,
        policy_factory: Callable[[], Policy] | None = None,
        online: LinearQPolicy | None = None,
        buffer_size: int = 100_000,
        min_batch: int = 1,
        rate_limits: RateLimits | None = None,
        clock: Clock | None = None,
    ) -> None:
        if (policy_factory is None) == (online is None):
            raise ValueError("PolicyService: give exactly one of policy_factory or online")
        self.spec = spec
        self.policy_factory = policy_factory
        self.online = online
        self.obs_size = observation_size()
        if online is not None and online.obs_size != self.obs_size:
            raise ValueError(
                f"online policy expects {online.obs_size} features, the layout has {self.obs_size}"
            )
        self.buffer: deque[Experience] = deque(maxlen=buffer_size)
        self.min_batch = min_batch
        self._policies: dict[str, Policy] = {}
        self._builders: dict[str, ObservationBuilder] = {}
        self._new_since_update = 0
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.updates = 0
        self.last_update_error: str | None = None
        self.rate_limits = rate_limits if rate_limits is not None else RateLimits()
        self.clock = clock or SystemClock()
        self._start_s = self.clock.now()
        self._guards: dict[str, Guard] = {}
        self.metrics = ServerMetrics()
        if online is not None:
            self._name = online.name
        else:
            assert policy_factory is not None
            self._name = str(getattr(policy_factory(), "name", "policy"))  # builds once: fails early

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int:
        return self.online.version if self.online is not None else 0

    def _policy(self, target: str) -> Policy:
        if target not in self._policies:
            assert self.policy_factory is not None
            self._policies[target] = self.policy_factory()
        return self._policies[target]

    def _review(
        self, target: str, now_s: float, current: int, proposal: Any, error: str | None = None
    ) -> Decision:
        """``target``'s guard on one proposal: bounds and rate limits, with reasons."""
        if target not in self._guards:
            self._guards[target] = Guard(
                GuardConfig(
                    self.spec.min_replicas,
                    self.spec.max_replicas,
                    stabilization_window_s=0.0,
                    rate_limits=self.rate_limits,
                    fallback=False,
                )
            )
        return self._guards[target].review(
            GuardInput(time_s=now_s, current_replicas=current, proposal=proposal, policy_error=error)
        )

    def act(self, body: Any) -> dict[str, Any]:
        body = parse_object(body, "request body")
        unknown = sorted(set(body) - {"target", "observation", "signals", "current_replicas"})
        if unknown:
            raise RequestError(f"unknown fields {unknown}", unknown[0])
        target = body.get("target", "default")
        if not isinstance(target, str) or not 0 < len(target) <= MAX_TARGET_LEN:
            raise RequestError(
                f"target must be a non-empty string of at most {MAX_TARGET_LEN} characters", "target"
            )
        if "observation" not in body and "signals" not in body:
            raise RequestError(
                "give 'observation' (a vector) or 'signals' (the ScalingSignals fields)", "observation"
            )
        obs = (
            parse_vector(body["observation"], "observation", self.obs_size) if "observation" in body else None
        )
        signals = parse_signals(body["signals"]) if "signals" in body else None
        current: int | None = None
        if "current_replicas" in body:
            cr = body["current_replicas"]
            if isinstance(cr, bool) or not isinstance(cr, int) or not 0 <= cr <= MAX_REPLICAS:
                raise RequestError(
                    f"current_replicas must be an integer in [0, {MAX_REPLICAS}]", "current_replicas"
                )
            current = cr
        elif signals is not None:
            current = int(signals.desired_replicas[0])
        with self._lock:
            history = self._calls[target]  # earlier calls for this target shape this answer
            self._calls[target] += 1
            now_s = self.clock.now() - self._start_s
            if signals is not None and "time_s" not in body["signals"]:
                # a policy with a sync period (the HPA) needs time to pass between requests
                signals = dataclasses.replace(signals, time_s=np.asarray([now_s]))
            if self.online is None:
                if signals is None:
                    raise RequestError("the served policy reads ScalingSignals: give 'signals'", "signals")
                assert current is not None
                policy = self._policy(target)
                proposal: Any = None
                error: str | None = None
                try:
                    proposal = policy.act(signals)
                except Exception as exc:  # answered with a hold and the reason, never a 5xx
                    error = f"{type(exc).__name__}: {exc}"
                inputs = {n: float(np.asarray(getattr(signals, n))[0]) for n in SIGNAL_FIELDS}
                reasons = () if error is not None else policy_reasons_of(policy, proposal, inputs)
                decision = self._review(target, now_s, current, proposal, error)
                self.metrics.record_answer(target, decision.final_replicas)
                return {
                    "action": decision.final_replicas,
                    "desired_replicas": decision.final_replicas,
                    "action_space": "replicas",
                    "reasons": [r.to_dict() for r in (*reasons, *decision.reasons)],
                    **self._state(target, history),
                    **self._about(),
                }
            if obs is None:
                assert signals is not None
                builder = self._builders.setdefault(target, ObservationBuilder(self.spec, 1))
                obs = builder.build(signals)[0]
            if current is None:
                # the layout carries 1/desired: recover the current count from it
                inv = float(obs[OBSERVATION_FEATURES.index("inv_desired")])
                if not 1.0 / MAX_REPLICAS <= inv <= 1.0:
                    raise RequestError(
                        "current_replicas is required (observation inv_desired is not in (0, 1])",
                        "current_replicas",
                    )
                current = round(1.0 / inv)
            action = self.online.act_observation(obs)
            delta = self.online.deltas[action]
            reason = Reason(
                "PolicyAction",
                f"{self._name} v{self.version}: action {action} (delta {delta:+d}) from {current} pods",
                current,
                current + delta,
            )
            decision = self._review(target, now_s, current, current + delta)
            self.metrics.record_answer(target, decision.final_replicas)
            return {
                "action": action,
                "desired_replicas": decision.final_replicas,
                "action_space": "delta",
                "reasons": [r.to_dict() for r in (reason, *decision.reasons)],
                **self._state(target, history),
                **self._about(),
            }

    def _state(self, target: str, history: int) -> dict[str, Any]:
        """What the answer depends on besides the request: the target's earlier calls (load
        history, stabilisation), so a client knows a fresh target name starts cold."""
        return {"target": target, "history_calls": history}

    def log_returns(self, body: Any) -> dict[str, Any]:
        body = parse_object(body, "request body")
        items = body.get("experiences")
        if not isinstance(items, list) or not items:
            raise RequestError(
                "experiences must be a non-empty list of {obs, action, reward, next_obs, done}", "experiences"
            )
        if len(items) > MAX_EXPERIENCES_PER_REQUEST:
            raise RequestError(
                f"at most {MAX_EXPERIENCES_PER_REQUEST} experiences per request", "experiences", 413
            )
        n_actions = len(self.online.deltas) if self.online is not None else None
        parsed = []
        for i, item in enumerate(items):
            f = f"experiences[{i}]"
            if not isinstance(item, dict):
                raise RequestError(f"{f} must be an object", f)
            missing = [k for k in ("obs", "action", "reward", "next_obs", "done") if k not in item]
            if missing:
                raise RequestError(f"{f} is missing {missing}", f"{f}.{missing[0]}")
            action = item["action"]
            if isinstance(action, bool) or not isinstance(action, int) or action < 0:
                raise RequestError(f"{f}.action must be an integer >= 0", f"{f}.action")
            if n_actions is not None and action >= n_actions:
                raise RequestError(f"{f}.action must be < {n_actions} (the delta actions)", f"{f}.action")
            if not isinstance(item["done"], bool):
                raise RequestError(f"{f}.done must be true or false", f"{f}.done")
            parsed.append(
                Experience(
                    obs=parse_vector(item["obs"], f"{f}.obs", self.obs_size, MAX_EXPERIENCE_MAGNITUDE),
                    action=action,
                    reward=parse_number(item["reward"], f"{f}.reward", limit=MAX_EXPERIENCE_MAGNITUDE),
                    next_obs=parse_vector(
                        item["next_obs"], f"{f}.next_obs", self.obs_size, MAX_EXPERIENCE_MAGNITUDE
                    ),
                    done=item["done"],
                )
            )
        with self._lock:
            self.buffer.extend(parsed)
            self._new_since_update += len(parsed)
            return {"accepted": len(parsed), "buffer_size": len(self.buffer), **self._about()}

    def update(self) -> bool:
        """Refit the online policy from the buffer if new experience arrived; True if it did."""
        if self.online is None:
            return False
        with self._lock:
            if self._new_since_update < self.min_batch:
                return False
            batch = list(self.buffer)
            self._new_since_update = 0
        online = LinearQPolicy(
            self.online.obs_size,
            self.online.deltas,
            self.online.gamma,
            self.online.ridge,
            self.online.iterations,
        )
        online.weights = self.online.weights.copy()
        try:
            online.update(batch)  # fit outside the lock; swap the weights in atomically
        except (FloatingPointError, np.linalg.LinAlgError) as exc:
            self.last_update_error = f"{type(exc).__name__}: {exc}"
            raise
        with self._lock:
            self.last_update_error = None
            self.online.weights = online.weights
            self.online.version += 1
            self.updates += 1
        return True

    def health(self) -> dict[str, Any]:
        """``status`` is ``degraded`` (with ``last_update_error``) while online updates fail."""
        return {
            "status": "ok" if self.last_update_error is None else "degraded",
            "buffer_size": len(self.buffer),
            "updates": self.updates,
            "last_update_error": self.last_update_error,
            **self._about(),
        }

    def _about(self) -> dict[str, Any]:
        return {
            "policy": self._name,
            "policy_version": self.version,
            "slo": {"latency_s": self.spec.slo_latency_s, "budget": self.spec.slo_budget},
        }


def _error(status: int, message: str, field: str | None = None) -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status)


def make_app(
    service: PolicyService, token: str | None = None, update_interval_s: float | None = None
) -> web.Application:
    """The aiohttp application. ``update_interval_s`` enables the periodic online update."""

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if token is not None and request.path.startswith("/v1/"):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _error(
                    401, "missing or wrong bearer token (Authorization: Bearer <token>)", "Authorization"
                )
        try:
            response = await handler(request)
        except RequestError as exc:
            response = _error(exc.status, exc.message, exc.field)
        except web.HTTPException as exc:
            response = _error(exc.status, exc.reason)
        except Exception as exc:  # a bad policy answer must not take the server down
            response = _error(500, f"{type(exc).__name__}: {exc}")
        service.metrics.record_request(request.path, response.status)
        return response

    async def body_of(request: web.Request) -> Any:
        if request.content_type != "application/json":
            raise RequestError(
                f"Content-Type must be application/json, got {request.content_type}", None, 415
            )
        try:
            return json.loads(await request.text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(f"request body is not valid JSON: {exc}", None, 400) from exc

    async def act(request: web.Request) -> web.Response:
        return web.json_response(service.act(await body_of(request)))

    async def log_returns(request: web.Request) -> web.Response:
        return web.json_response(service.log_returns(await body_of(request)))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(service.health())

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = service.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    spec = openapi_spec()

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(spec)

    app = web.Application(middlewares=[guard], client_max_size=16 * 1024 * 1024)
    app.router.add_post("/v1/act", act)
    app.router.add_post("/v1/log_returns", log_returns)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)

    if update_interval_s is not None and service.online is not None:
        if not 0 < update_interval_s < math.inf:
            raise ValueError(f"--update-interval must be a finite number > 0, got {update_interval_s}")

        async def updater(app: web.Application) -> Any:
            async def loop() -> None:
                while True:
                    await asyncio.sleep(update_interval_s)
                    try:
                        await asyncio.to_thread(service.update)
                    except (FloatingPointError, np.linalg.LinAlgError):
                        pass  # kept the previous policy (health says why); try again with more data

            task = asyncio.create_task(loop())
            yield
            task.cancel()

        app.cleanup_ctx.append(updater)
    return app


class BackgroundServer:
    """Runs an aiohttp app on its own event loop in a daemon thread (tests, benchmarks, and
    anything that embeds the server next to a synchronous controller)."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app, self.host, self.port = app, host, port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="policy-server", daemon=True)
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._runner = web.AppRunner(self.app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            self._loop.run_until_complete(site.start())
            sockets = site._server.sockets  # type: ignore[union-attr]
            self.port = int(sockets[0].getsockname()[1])
        except BaseException as exc:  # re-raised in start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def start(self) -> BackgroundServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
