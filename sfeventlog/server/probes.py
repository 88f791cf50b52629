"""The HTTP paths of a server's metrics port: ``/metrics``, ``/healthz``, ``/readyz``.

* ``/metrics``: the Prometheus page (prometheus_client's own WSGI app);
* ``/healthz``: liveness, 200 whenever the process answers HTTP at all;
* ``/readyz``: readiness, 200 while the server's store answers (its
  ``StoreWatch``, which pings the store about once a second, says so) and
  the server is not stopping, else 503 with the reason as the body;
* any other path: 404.

The probes never touch the store themselves: they read the watch's last
result, so a probe answers at once even while the store hangs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

#: None while the server is ready, else why it is not (shown in the 503 body).
NotReady = Callable[[], str | None]

_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


def probe_app(metrics: WSGIApplication, not_ready: NotReady) -> WSGIApplication:
    """``metrics`` on ``/metrics``, plus ``/healthz`` and ``/readyz`` (see the module)."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/healthz":
            return _reply(start_response, "200 OK", "ok")
        if path == "/readyz":
            reason = not_ready()
            if reason is None:
                return _reply(start_response, "200 OK", "ready")
            return _reply(start_response, "503 Service Unavailable", f"not ready: {reason}")
        return _reply(start_response, "404 Not Found",
                      f"no such path {path}; try /metrics, /healthz or /readyz")

    return app


def _reply(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = (text + "\n").encode()
    start_response(status, [*_TEXT, ("Content-Length", str(len(body)))])
    return [body]
