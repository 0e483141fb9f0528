"""A small client of the control port, for tests, the demo and the CLI: the
platform operations and the fault API, each raising ``ControlError`` with the
server's one-line message on a 4xx/5xx.
"""

from __future__ import annotations

from typing import Any

import httpx


class ControlError(Exception):
    """The control port refused a request (or could not be reached)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ControlClient:
    """``ControlClient(shop.control_url).inject("crash", "cart", instance="cart-0")``"""

    def __init__(self, control_url: str, timeout_seconds: float = 60.0) -> None:
        self.base = control_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base, timeout=timeout_seconds)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ControlError(
                f"the shop's control port {self.base} is not reachable: {exc}"
            ) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": response.text[:200]}
        if response.status_code >= 400:
            message = payload.get("error") if isinstance(payload, dict) else None
            raise ControlError(message or f"HTTP {response.status_code}", response.status_code)
        return payload

    # -- discovery -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return self.request("GET", "/platform/status")  # type: ignore[no-any-return]

    def service(self, name: str) -> dict[str, Any]:
        for svc in self.status()["services"]:
            if svc["name"] == name:
                return svc  # type: ignore[no-any-return]
        raise ControlError(f"unknown service {name!r}", 404)

    def targets(self) -> list[dict[str, Any]]:
        return self.request("GET", "/platform/targets")  # type: ignore[no-any-return]

    def logs(self) -> dict[str, Any]:
        return self.request("GET", "/platform/logs")  # type: ignore[no-any-return]

    # -- platform operations -------------------------------------------------------------
    def restart_service(self, service: str) -> Any:
        return self.request("POST", f"/platform/services/{service}/restart")

    def instance_op(self, service: str, instance: str, op: str) -> Any:
        """``op`` is restart, stop, start, drain or undrain."""
        return self.request("POST", f"/platform/services/{service}/instances/{instance}/{op}")

    def scale(self, service: str, replicas: int) -> Any:
        return self.request("POST", f"/platform/services/{service}/scale", {"replicas": replicas})

    def deploy(self, service: str, version: str) -> Any:
        return self.request("POST", f"/platform/services/{service}/deploy", {"version": version})

    def rollback(self, service: str, version: str | None = None) -> Any:
        body = {} if version is None else {"version": version}
        return self.request("POST", f"/platform/services/{service}/rollback", body)

    def versions(self, service: str) -> Any:
        return self.request("GET", f"/platform/services/{service}/versions")

    def config(self, service: str) -> Any:
        return self.request("GET", f"/platform/services/{service}/config")

    def put_config(self, service: str, config: dict[str, Any]) -> Any:
        return self.request("PUT", f"/platform/services/{service}/config", {"config": config})

    def config_history(self, service: str) -> Any:
        return self.request("GET", f"/platform/services/{service}/config/history")

    def restore_config(self, service: str, revision: int | None = None) -> Any:
        body = {} if revision is None else {"revision": revision}
        return self.request("POST", f"/platform/services/{service}/config/restore", body)

    def clear_cache(self, service: str) -> Any:
        return self.request("POST", f"/platform/services/{service}/cache/clear")

    def failover(self, service: str, dependency: str, to: str | None = None) -> Any:
        body: dict[str, Any] = {"dependency": dependency}
        if to is not None:
            body["to"] = to
        return self.request("POST", f"/platform/services/{service}/failover", body)

    # -- faults --------------------------------------------------------------------------
    def inject(
        self,
        fault: str,
        service: str,
        instance: str | None = None,
        params: dict[str, Any] | None = None,
        duration: float | None = None,
    ) -> dict[str, Any]:
        body = {
            "fault": fault,
            "service": service,
            "instance": instance,
            "params": params or {},
            "duration": duration,
        }
        return self.request("POST", "/faults", body)  # type: ignore[no-any-return]

    def faults(self) -> list[dict[str, Any]]:
        return self.request("GET", "/faults")["faults"]  # type: ignore[no-any-return]

    def fault(self, fault_id: str) -> dict[str, Any]:
        return self.request("GET", f"/faults/{fault_id}")  # type: ignore[no-any-return]

    def stop_fault(self, fault_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/faults/{fault_id}")  # type: ignore[no-any-return]

    def stop_all_faults(self) -> dict[str, Any]:
        return self.request("DELETE", "/faults")  # type: ignore[no-any-return]
