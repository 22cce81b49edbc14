"""app/multipart.py: werkzeug's multipart decoding without per-boundary regex compilation.

BoundarySearch must answer exactly what werkzeug's own patterns answer (start, end, group 1), and
the decoder must produce the same events, on bodies built to hit the edge cases: boundaries full
of dashes and regex metacharacters, every kind of line break, markers without their line break,
epilogue markers, whitespace after the boundary, and the search starting mid-way.
"""

from __future__ import annotations

import random

import pytest
from werkzeug import formparser
from werkzeug.sansio import multipart as sansio_multipart
from werkzeug.sansio.multipart import NeedData

from app.multipart import BoundarySearch, FastBoundaryDecoder

BOUNDARY_CHARS = "abcXYZ0189-_'()+,./:=? "  # RFC 2046's bchars, including the space


def _boundary(rng: random.Random) -> bytes:
    n = rng.randint(1, 12)
    text = "".join(rng.choice(BOUNDARY_CHARS) for _ in range(n)).rstrip(" ") or "b"
    return text.encode()


def _body(rng: random.Random, boundary: bytes) -> bytes:
    pieces = [b"--" + boundary, b"\r\n", b"\n", b"\r", b"--", b"-", b" ", b"\t", b"x", b"data",
              boundary, b"--" + boundary[: max(1, len(boundary) // 2)]]  # fmt: skip
    return b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))


def test_search_answers_what_werkzeugs_patterns_answer() -> None:
    rng = random.Random(16)
    checked = matched = 0
    for _ in range(4000):
        boundary = _boundary(rng)
        theirs = sansio_multipart.MultipartDecoder(boundary)
        data = _body(rng, boundary)
        pos = rng.randint(0, len(data))
        pairs = (
            (theirs.preamble_re, BoundarySearch(boundary, break_required=False)),
            (theirs.boundary_re, BoundarySearch(boundary, break_required=True)),
        )
        for pattern, ours in pairs:
            for args in ((data,), (data, pos), (bytearray(data), pos)):
                want, got = pattern.search(*args), ours.search(*args)
                checked += 1
                if want is None:
                    assert got is None, (boundary, data, args[1:])
                    continue
                matched += 1
                assert got is not None, (boundary, data, args[1:])
                assert (got.start(), got.end(), got.group(1)) == (want.start(), want.end(), want.group(1))
    assert matched > checked // 20  # the bodies do reach the interesting cases (~10 % match)


def _events(decoder_cls: type, boundary: bytes, body: bytes, chunks: list[int]) -> list:
    decoder = decoder_cls(boundary, max_form_memory_size=10_000)
    events, at = [], 0
    for size in [*chunks, len(body)]:
        decoder.receive_data(body[at : at + size])
        at += size
        while True:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                break
            events.append(repr(event))
            if type(event).__name__ == "Epilogue":
                return events
        if at >= len(body):
            decoder.receive_data(None)
            events.append(repr(decoder.next_event()))
            return events
    return events


def _multipart(boundary: bytes, parts: list[tuple[str, bytes]], breaks: bytes) -> bytes:
    out = b"preamble" + breaks
    for name, data in parts:
        out += b"--" + boundary + breaks
        out += f'Content-Disposition: form-data; name="file"; filename="{name}"'.encode() + breaks
        out += b"Content-Type: image/png" + breaks + breaks + data + breaks
    return out + b"--" + boundary + b"--" + breaks + b"epilogue"


@pytest.mark.parametrize("breaks", [b"\r\n", b"\n"])
def test_decoder_gives_werkzeugs_events_in_any_chunking(breaks: bytes) -> None:
    rng = random.Random(7)
    for _ in range(200):
        boundary = _boundary(rng).replace(b" ", b"s")
        parts = [(f"d{i}.png", bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))))
                 for i in range(rng.randint(1, 3))]  # fmt: skip
        body = _multipart(boundary, parts, breaks)
        chunks = [rng.randint(1, 64) for _ in range(rng.randint(0, 8))]
        want = _events(sansio_multipart.MultipartDecoder, boundary, body, chunks)
        assert _events(FastBoundaryDecoder, boundary, body, chunks) == want


def test_app_parses_uploads_with_the_fast_decoder(models, app, client, user_headers) -> None:
    from tests.factories import holdout_digit, mnist_as_photo, post_files

    assert formparser.MultipartDecoder is FastBoundaryDecoder
    # The test client sends a new random boundary with every request, as real clients do.
    for _ in range(3):
        upload = mnist_as_photo(holdout_digit(2)[0])
        resp = post_files(client, "/api/v2/predict", user_headers, [(upload, "d.png")])
        assert resp.status_code == 200, resp.get_json()
