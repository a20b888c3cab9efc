"""Lists that follow every page: iterate a paginator for the items, or its ``pages()`` for one list per page.

Three page shapes, one rule each for the next page:

* Recuro's Laravel pages (``?page=&per_page=``): the next page while ``meta.current_page < meta.last_page``;
* Recuro's keyset pages (``GET /api/jobs``, ``?cursor=``): ``meta.next_cursor`` until it is null;
* QuedUp's bare lists (``?limit=&offset=``): the next offset while a page comes back full.

Nothing is fetched until the paginator is iterated; each iteration starts from the first page again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from chronohook_client._http import Call
from chronohook_client.models import CursorPage, Page

T = TypeVar("T")
P = TypeVar("P")

# state -> the call for that page; the page's answer -> (its items, the next page's state or None at the end)
MakeCall = Callable[[Any], Call[P]]
NextState = Callable[[P], tuple[list[T], Any]]


class _Sends(Protocol):
    def send(self, call: Call[Any]) -> Any: ...


class _SendsAsync(Protocol):
    async def send(self, call: Call[Any]) -> Any: ...


def laravel_next(page: Page[T]) -> tuple[list[T], int | None]:
    more = bool(page.data) and page.meta.current_page < page.meta.last_page
    return page.data, page.meta.current_page + 1 if more else None


def cursor_next(page: CursorPage[T]) -> tuple[list[T], str | None]:
    return page.data, page.meta.next_cursor if page.data else None


def offset_next(limit: int) -> Callable[[tuple[int, list[T]]], tuple[list[T], int | None]]:
    """For a bare list: the call's parse gives (offset asked, items)."""

    def next_state(answer: tuple[int, list[T]]) -> tuple[list[T], int | None]:
        offset, items = answer
        return items, offset + len(items) if len(items) >= limit else None

    return next_state


class Paginator(Generic[T]):
    def __init__(
        self, sender: _Sends, make_call: MakeCall[Any], next_state: NextState[Any, T], start: Any, max_items: int | None
    ) -> None:
        self._sender = sender
        self._make_call = make_call
        self._next_state = next_state
        self._start = start
        self._max_items = max_items

    def pages(self) -> Iterator[list[T]]:
        state, seen = self._start, 0
        while state is not None:
            items, state = self._next_state(self._sender.send(self._make_call(state)))
            if self._max_items is not None:
                items = items[: self._max_items - seen]
                if seen + len(items) >= self._max_items:
                    state = None
            seen += len(items)
            if items:
                yield items

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page

    def all(self) -> list[T]:
        """Every item of every page, in one list."""
        return list(self)


class AsyncPaginator(Generic[T]):
    def __init__(
        self,
        sender: _SendsAsync,
        make_call: MakeCall[Any],
        next_state: NextState[Any, T],
        start: Any,
        max_items: int | None,
    ) -> None:
        self._sender = sender
        self._make_call = make_call
        self._next_state = next_state
        self._start = start
        self._max_items = max_items

    async def pages(self) -> AsyncIterator[list[T]]:
        state, seen = self._start, 0
        while state is not None:
            items, state = self._next_state(await self._sender.send(self._make_call(state)))
            if self._max_items is not None:
                items = items[: self._max_items - seen]
                if seen + len(items) >= self._max_items:
                    state = None
            seen += len(items)
            if items:
                yield items

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page:
                yield item

    async def all(self) -> list[T]:
        """Every item of every page, in one list."""
        return [item async for item in self]
