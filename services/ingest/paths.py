"""Path parameters that name a job by its integer id (Recuro jobs and crons, dead letters), one type for every router.

Starlette's own ``{x:int}`` matches any run of digits and converts it with ``int()``: 5,000 digits raise ValueError
past Python's 4,300-digit limit (a 500), and 20 digits overflow the database's 64-bit integer. Ours matches 1 to 16
digits only (every id we mint is below 2**53, 16 digits), so anything else does not match the route at all and is the
family's 404, like a non-numeric or negative id always was; within 16 digits, an id nobody has is the route's 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from starlette.convertors import Convertor, register_url_convertor

from chronohook.ids import MAX_SAFE_INTEGER

ID_DIGITS = len(str(MAX_SAFE_INTEGER))  # 16
CONVERTOR = "id"


class IdConvertor(Convertor[int]):
    regex = f"[0-9]{{1,{ID_DIGITS}}}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor(CONVERTOR, IdConvertor())

IntegerId = Annotated[int, Path(description=f"An integer id (1 to {ID_DIGITS} digits; anything else is a 404).")]
"""An integer id in a route declared as ``{name:id}``."""
