"""`pop employee …`: people by hand (the CSV import is for whole organisations)."""

from __future__ import annotations

import json

import click

from handlers.cli_context import Context, echo_result, pass_context
from handlers.commands import new_id
from workflow.employee import LANGUAGES, RegisterEmployee


@click.group()
def employee() -> None:
    """Register and look up employees and managers."""


@employee.command("add")
@click.option("--id", "employee_id", help="Employee number (default: a new id).")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--manager", "manager_id", help="The manager's employee id (registered first).")
@click.option("--language", type=click.Choice(LANGUAGES), default="nl", show_default=True)
@click.option("--idempotency-key", help="Makes a retried call safe: the first result returns.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def add(
    context: Context,
    employee_id: str | None,
    name: str,
    email: str,
    manager_id: str | None,
    language: str,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Register a person; prints the employee id."""
    command = RegisterEmployee(employee_id or new_id(), name, email, manager_id, language)
    result = context.app.commands.register_employee(
        context.actor, command, idempotency_key=idempotency_key
    )
    echo_result(result, as_json=as_json)


@employee.command("show")
@click.argument("employee_id")
@pass_context
def show(context: Context, employee_id: str) -> None:
    """Print one person as JSON."""
    state = context.app.repository.employee(employee_id)
    click.echo(
        json.dumps(
            {
                "employee_id": state.employee_id,
                "name": state.name,
                "email": state.email,
                "manager_id": state.manager_id,
                "language": state.language,
                "latest_cycle_id": state.latest_cycle_id,
            },
            ensure_ascii=False,
        )
    )
