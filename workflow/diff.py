"""What changed in a plan between two moments: goals added, changed, removed, signed, reviewed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from workflow.state import CycleState


def diff_states(before: CycleState | None, after: CycleState) -> dict[str, Any]:
    """A structured difference between two states of one cycle (`before` None: not yet begun)."""
    old_goals = {goal.goal_id: goal for goal in (before.goals if before else ())}
    new_goals = {goal.goal_id: goal for goal in after.goals}
    changed: dict[str, dict[str, list[Any]]] = {}
    for goal_id in old_goals.keys() & new_goals.keys():
        old, new = asdict(old_goals[goal_id]), asdict(new_goals[goal_id])
        fields = {name: [old[name], new[name]] for name in new if old[name] != new[name]}
        if fields:
            changed[goal_id] = fields
    old_status = {g: before.goal_status(g) for g in old_goals} if before else {}
    return {
        "phase": [before.phase.value if before else None, after.phase.value],
        "plan_version": [before.plan_version if before else 0, after.plan_version],
        "goals_added": sorted(new_goals.keys() - old_goals.keys()),
        "goals_removed": sorted(old_goals.keys() - new_goals.keys()),
        "goals_changed": changed,
        "goal_status": {
            goal_id: [old_status.get(goal_id), after.goal_status(goal_id)]
            for goal_id in sorted(new_goals)
            if old_status.get(goal_id) != after.goal_status(goal_id)
        },
        "signed_versions": [
            plan.plan_version
            for plan in after.signed_plans[len(before.signed_plans) if before else 0 :]
        ],
        "reviews_added": after.reviews - (before.reviews if before else 0),
    }
