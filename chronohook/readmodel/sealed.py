"""Which keys the stored job definitions were sealed under (``chronohook secrets usage``, decision 0044).

A retired key may be dropped from ``CHRONOHOOK_SECRET_KEYS_RETIRED`` once no job that can still be sent holds a
value sealed under it: every job row is read (crons, pending and finished jobs, dead letters, which a replay
re-sends), and each key id counted once per job.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from sqlalchemy import Engine, select

from chronohook.store.tables import jobs

_SEALED = re.compile(r"chs1:([0-9a-f]{8}):")
_BATCH = 1000


def jobs_by_key(engine: Engine) -> Counter[str]:
    """Key id -> the number of jobs in the read model whose definition holds a value sealed under it."""
    counts: Counter[str] = Counter()
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=_BATCH).execute(select(jobs.c.doc))
        for (doc,) in rows:
            text = doc if isinstance(doc, str) else json.dumps(doc)
            counts.update(set(_SEALED.findall(text)))
    return counts
