"""The REST API over the running loop and its state store (FastAPI, served by uvicorn)."""

from selfheal.api.app import create_app
from selfheal.api.server import Server

__all__ = ["Server", "create_app"]
