"""Sealing splits personal fields off an event's data and puts them back, leaving the caller's
data as it was (the codec and caches hold on to it)."""

from __future__ import annotations

import copy
from typing import Any

from events.personal import ERASED, merge, split
from events.sealing import new_key, seal, unseal

PLAN: dict[str, Any] = {
    "version": 1,
    "goals": [
        {
            "title": "Leer SQL",
            "activity": "cursus",
            "result": "rapport",
            "deadline": "2027-06-01",
            "support": {"hours": 8, "coach": "Ans", "materials": ["boek", "video"]},
        },
        {"title": "Presenteren", "support": {"hours": 2, "coach": None, "materials": []}},
    ],
}


def test_split_and_merge_round_trip_without_touching_their_input() -> None:
    original = copy.deepcopy(PLAN)
    public, personal = split("PlanDrafted", PLAN)
    assert original == PLAN
    assert public["goals"][0]["title"] is None
    assert public["goals"][0]["support"]["hours"] == 8
    assert personal["goals.0.title"] == "Leer SQL"
    snapshot = copy.deepcopy(public)
    restored = merge("PlanDrafted", public, personal, list(personal))
    assert public == snapshot
    assert restored == PLAN


def test_unseal_restores_or_marks_erased_and_leaves_the_stored_data_alone() -> None:
    key = new_key()
    sealed = seal("PlanDrafted", PLAN, "e1", key)
    stored = copy.deepcopy(sealed)
    assert unseal("PlanDrafted", sealed, key) == PLAN
    erased = unseal("PlanDrafted", sealed, None)
    assert sealed == stored
    assert erased["goals"][0]["title"] == ERASED
    assert erased["goals"][0]["support"]["materials"] == [ERASED]
    assert erased["goals"][0]["support"]["hours"] == 8
