"""werkzeug's multipart decoder without compiling two regular expressions per request.

werkzeug's ``MultipartDecoder`` compiles two patterns that embed the request's boundary. Real
clients (browsers, curl, requests, httpx) send a new random boundary with every upload, so Python's
pattern cache never hits and every upload pays both compilations: 0.6 ms on this machine, more
than the model's own prediction. Benchmarks with one fixed body never see it.

Here the boundary is found with ``bytes.find`` and only what follows it goes through a pattern,
compiled once. ``BoundarySearch.search`` answers exactly what werkzeug's pattern would (same
start, end and group(1); tests/test_multipart.py checks it against werkzeug's own patterns on
random bodies), so parsing is unchanged. Installed by ``init_multipart`` only when werkzeug's
decoder still has the shape this was written for; otherwise werkzeug's own stays.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask
from werkzeug import formparser
from werkzeug.sansio import multipart as sansio_multipart

log = logging.getLogger(__name__)

_BREAKS = (b"\r\n", b"\n", b"\r")
# What may follow "--<boundary>": werkzeug's own alternatives (epilogue marker, or line end).
_LB = rb"(?:\r\n|\n|\r)"
_TAIL = re.compile(rb"(--[^\S\n\r]*%s?|[^\S\n\r]*%s)" % (_LB, _LB), re.MULTILINE)


class _Match:
    __slots__ = ("_end", "_group", "_start")

    def __init__(self, start: int, end: int, group: Any) -> None:
        self._start, self._end, self._group = start, end, group

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, index: int = 0) -> Any:
        if index != 1:
            raise IndexError("only group 1 is kept")
        return self._group


class BoundarySearch:
    """``re.compile(rb"<LB>[?]--<boundary>(<tail>)").search`` without the per-boundary compile."""

    def __init__(self, boundary: bytes, break_required: bool) -> None:
        self.marker = b"--" + boundary
        self.break_required = break_required

    def search(self, data: bytes | bytearray, pos: int = 0) -> _Match | None:
        find = data.find
        at = find(self.marker, pos)
        while at != -1:
            tail = _TAIL.match(data, at + len(self.marker))
            if tail is not None:
                start = self._start(data, at, pos)
                if start is not None:
                    return _Match(start, tail.end(), tail.group(1))
            at = find(self.marker, at + 1)
        return None

    def _start(self, data: bytes | bytearray, at: int, pos: int) -> int | None:
        # The leftmost start the pattern allows: the line break before the marker (CRLF first,
        # as the alternation tries it), if it lies at or after `pos`; or, when the break is
        # optional, the marker itself.
        for brk in _BREAKS:
            begin = at - len(brk)
            if begin >= pos and data[begin:at] == brk:
                return begin
        return None if self.break_required else at


class FastBoundaryDecoder(sansio_multipart.MultipartDecoder):
    def __init__(
        self, boundary: bytes, max_form_memory_size: int | None = None, *, max_parts: int | None = None
    ) -> None:
        # werkzeug's own __init__, minus the two compilations (the attribute set is checked at
        # install time against werkzeug's).
        self.buffer = bytearray()
        self.complete = False
        self.max_form_memory_size = max_form_memory_size
        self.max_parts = max_parts
        self.state = sansio_multipart.State.PREAMBLE
        self.boundary = boundary
        self.preamble_re = BoundarySearch(boundary, break_required=False)  # type: ignore[assignment]
        self.boundary_re = BoundarySearch(boundary, break_required=True)  # type: ignore[assignment]
        self._search_position = 0
        self._parts_decoded = 0


def _same_shape() -> bool:
    theirs = sansio_multipart.MultipartDecoder(b"shape-check", 1024, max_parts=2)
    ours = FastBoundaryDecoder(b"shape-check", 1024, max_parts=2)
    return set(vars(theirs)) == set(vars(ours))


def init_multipart(_app: Flask) -> None:
    """Use FastBoundaryDecoder for every multipart body this process parses (werkzeug's form
    parser looks the decoder up by module name), if werkzeug's decoder has the expected shape."""
    if formparser.MultipartDecoder is not sansio_multipart.MultipartDecoder:
        return  # installed already (another app of this process), or someone else's decoder
    if not _same_shape():
        log.warning("werkzeug's MultipartDecoder changed shape; keeping it (uploads cost more)")
        return
    formparser.MultipartDecoder = FastBoundaryDecoder  # type: ignore[misc]
