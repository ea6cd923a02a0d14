"""What every `pop` subcommand shares: the lazily wired app, the actor, result printing."""

from __future__ import annotations

import json

import click

from handlers.actor import Actor
from handlers.bootstrap import Popcycle, bootstrap
from handlers.commands import CommandResult
from handlers.settings import Settings


class Context:
    """Lazily wired application: `pop --help` must not touch the database."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self._app: Popcycle | None = None

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def app(self) -> Popcycle:
        if self._app is None:
            self._app = bootstrap(Settings.from_env())
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


pass_context = click.make_pass_decorator(Context)


def echo_result(result: CommandResult, *, as_json: bool) -> None:
    """A command's outcome: JSON for scripts, or a short line for people."""
    if as_json:
        click.echo(json.dumps({**result.to_json(), "replayed": result.replayed}))
        return
    parts = [f"{key}={value}" for key, value in result.to_json().items() if value is not None]
    click.echo(" ".join(parts) + (" (already applied)" if result.replayed else ""))
