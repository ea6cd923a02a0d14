"""The JSON API under /api (DESIGN.md §5); importing this module registers every route."""

from __future__ import annotations

from web.api import cycles, employees, followups, imports
from web.api.blueprint import BEARER, api

__all__ = ["BEARER", "api", "cycles", "employees", "followups", "imports"]
