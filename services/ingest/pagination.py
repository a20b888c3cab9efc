"""Pages of a list, as each API family answers them.

* Recuro (``/api/...``): ``?page=&per_page=``, answered as a Laravel API resource collection:
  ``{"data": [...], "links": {"first", "last", "prev", "next"}, "meta": {"current_page", "from", "last_page",
  "path", "per_page", "to", "total"}}`` (Laravel's ``meta.links`` page-button list is left out).
* QuedUp (``/jobs...``): ``?limit=&offset=`` and a bare JSON list, as ``GET /jobs`` answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

PER_PAGE_DEFAULT = 15  # Laravel's default
PER_PAGE_MAX = 100
MAX_OFFSET = 2**63 - 1


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int
    request: Request

    @property
    def offset(self) -> int:
        # A database's OFFSET holds a signed 64-bit integer: a page past it is as empty as any page past the end.
        return min((self.page - 1) * self.per_page, MAX_OFFSET)


async def page_request(
    request: Request,
    page: Annotated[int, Query(ge=1, description="1-based page number; past the last page: an empty `data`.")] = 1,
    per_page: Annotated[int, Query(ge=1, le=PER_PAGE_MAX, description="Items per page (1-100).")] = PER_PAGE_DEFAULT,
) -> PageRequest:
    return PageRequest(page=page, per_page=per_page, request=request)


Paging = Annotated[PageRequest, Depends(page_request)]


class PageLinks(BaseModel):
    first: str
    last: str
    prev: str | None
    next: str | None


class PageMeta(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    current_page: int
    from_: int | None = Field(alias="from", description="1-based position of the first item; null on an empty page.")
    last_page: int
    path: str
    per_page: int
    to: int | None
    total: int


class Page(BaseModel, Generic[T]):
    """Laravel's paginated API resource collection."""

    data: list[T]
    links: PageLinks
    meta: PageMeta


def laravel_page(paging: PageRequest, items: list[T], total: int) -> Page[T]:
    """The page of ``items`` (already cut to ``paging``) out of ``total``; links keep the request's other query
    parameters (``per_page``, filters)."""
    last = max(1, -(-total // paging.per_page))
    url = paging.request.url

    def link(page: int) -> str:
        return str(url.include_query_params(page=page))

    first_index = paging.offset + 1 if items else None
    return Page[T](
        data=items,
        links=PageLinks(
            first=link(1),
            last=link(last),
            prev=link(paging.page - 1) if paging.page > 1 else None,
            next=link(paging.page + 1) if paging.page < last else None,
        ),
        meta=PageMeta(
            current_page=paging.page,
            from_=first_index,
            last_page=last,
            path=str(url.replace(query="")),
            per_page=paging.per_page,
            to=None if first_index is None else first_index + len(items) - 1,
            total=total,
        ),
    )
