"""Background services that run beside the web app in `pop serve` (workers, scheduler).

A registry here, in the inner package, so that each outer part adds its own service and
`pop serve` (web/cli.py) runs whatever is registered without knowing them one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from handlers.bootstrap import Popcycle


class BackgroundService(Protocol):
    """Something that runs beside the web server in `pop serve`."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


ServiceFactory = Callable[[Popcycle], BackgroundService]
#: Factories of the services `pop serve` runs beside the web app, in start order.
BACKGROUND_SERVICES: list[ServiceFactory] = []
