"""Which tenants' due entries a capped step fires when more is due than it may fire (decision 0028, fair pick).

Round robin across tenants, one entry a turn, from the ring's first tenant: each tenant takes as many as it has
due, up to an equal share of the cap, and what a tenant leaves of its share goes to the others (work conserving: a
tenant alone takes the whole cap). ``shares`` is that rule in closed form, pure: the counts each tenant takes, and
where the ring starts next time, so the cap's remainder (the turns an equal split cannot give to all) goes round.
"""

from __future__ import annotations

from collections.abc import Sequence


def shares(due: Sequence[int], cap: int) -> tuple[list[int], int]:
    """(how many each tenant fires, in ring order; the ring's next start): ``due[i]`` entries due for the i-th
    tenant of the ring, at most ``cap`` in all."""
    take = [0] * len(due)
    left = cap
    active = [i for i, n in enumerate(due) if n > 0]
    while left > 0 and active:
        turns = left // len(active)
        if turns == 0:
            # Fewer turns left than tenants: one more each for the first ones; the next one starts the next step.
            for i in active[:left]:
                take[i] += 1
            return take, (active[left - 1] + 1) % len(due)
        still: list[int] = []
        for i in active:
            n = min(turns, due[i] - take[i])
            take[i] += n
            left -= n
            if take[i] < due[i]:
                still.append(i)
        active = still
    return take, 0
