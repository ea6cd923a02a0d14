"""The Flask app: status page, JSON API with its OpenAPI document, calendar feeds, health."""

from __future__ import annotations

from web.app import create_app

__all__ = ["create_app"]
