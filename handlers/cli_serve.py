"""Moved: the service registry is `handlers.services`; `pop serve` lives in `web/cli.py`."""

from handlers.services import BACKGROUND_SERVICES, BackgroundService, ServiceFactory

__all__ = ["BACKGROUND_SERVICES", "BackgroundService", "ServiceFactory"]
