"""Errors of the testbed's platform, each carrying the HTTP status the control
API answers with (404 unknown name, 400 bad request, 409 conflict)."""

from __future__ import annotations


class TestbedError(Exception):
    """A platform operation or fault request that cannot be done."""

    __test__ = False  # not a pytest test class
    status = 500


class NotFound(TestbedError):
    status = 404


class BadRequest(TestbedError):
    status = 400


class Conflict(TestbedError):
    status = 409
