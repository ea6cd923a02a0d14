"""`bench.group_commit`'s HTTP case against real `pop serve` processes, kept small.

The benchmark's figures are only worth something if its check is: every command the API
acknowledged is in the log under its key, the positions are gapless, the chain verifies. Here
it runs end to end with two group-committing servers, and the check is shown to catch an
acknowledgement the log does not hold.
"""

from __future__ import annotations

import uuid

import pytest

from bench.append import capture_rows
from bench.group_commit import http_ceiling, http_clients
from bench.http_commands import Ack, check_acknowledged
from bench.workload import Workload
from tests.support.postgres import new_database

pytestmark = pytest.mark.postgres

WORKLOAD = Workload(6)


@pytest.fixture
def url(postgres_url: str) -> str:
    return new_database(postgres_url, f"bench_{uuid.uuid4().hex[:12]}")


def test_two_group_committing_servers_acknowledge_every_command_durably(url: str) -> None:
    events = len(capture_rows(WORKLOAD))

    measured = http_clients(url, WORKLOAD, events, clients=4, processes=2, grouped=True)

    assert measured.commands == WORKLOAD.commands
    assert measured.events == events
    assert set(measured.cpu) >= {"app", "clients", "postgres", "machine"}
    assert measured.cpu["app"] > 0


def test_the_check_catches_an_acknowledgement_the_log_lacks(url: str) -> None:
    events = len(capture_rows(WORKLOAD))
    http_clients(url, WORKLOAD, events, clients=2, processes=1, grouped=False)
    people = WORKLOAD.people

    with pytest.raises(AssertionError, match="1 acknowledged commands not in the log"):
        check_acknowledged(url, [Ack("never-sent", "cycle-x", 1)], people, events)
    with pytest.raises(AssertionError, match="expected"):
        check_acknowledged(url, [], people, events + 1)


def test_the_trivial_server_answers_every_request(url: str) -> None:
    measured = http_ceiling(url, WORKLOAD, 0, clients=4, processes=2, grouped=False)

    assert measured.commands == WORKLOAD.commands
