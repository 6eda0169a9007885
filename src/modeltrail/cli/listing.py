"""Paged, streamed listings shared by the CLI's list commands (``log``, ``review list``, ``runs list`` …).

One convention for every listing:

- ``--limit/-n N`` rows, ``--after SEQ`` to continue after the last row shown (keyset paging: the next
  page costs the same as the first, whatever the trail's size), ``--all`` for everything.
- On a terminal the default is one page of :data:`TERMINAL_LIMIT` rows printed as aligned columns; a
  line on stderr says how to get the next page. Identifiers are never cut; only the last, free-text
  column is cut to the terminal's width.
- Not on a terminal (a pipe, a file) every row is written in full, streamed as it is read: tab-separated
  values with a header line, the same as ``--tsv``. ``--json`` writes one JSON object per line.

The rows come from indexed queries (``seq > ?`` … ``LIMIT ?``), so the first page is read without a
scan of the ledger. This module only formats: it imports neither rich nor pandas.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

import click

#: Rows of one page when printing to a terminal and no ``--limit`` was given.
TERMINAL_LIMIT = 50

F = TypeVar("F", bound=Callable[..., Any])


def listing_options(fn: F) -> F:
    """Add ``--limit/-n``, ``--after``, ``--all``, ``--json`` and ``--tsv`` to a list command."""
    for option in reversed(
        (
            click.option("--limit", "-n", "limit", type=click.IntRange(min=0), help="At most this many rows."),
            click.option(
                "--after",
                "after",
                type=click.IntRange(min=-1),
                metavar="SEQ",
                help="Only rows after this seq (the next page: the last seq shown).",
            ),
            click.option(
                "--all",
                "show_all",
                is_flag=True,
                help=f"Every row (default on a terminal: {TERMINAL_LIMIT}; elsewhere: every row).",
            ),
            click.option("--json", "as_json", is_flag=True, help="One JSON object per line."),
            click.option("--tsv", "as_tsv", is_flag=True, help="Tab-separated values with a header line."),
        )
    ):
        fn = option(fn)
    return fn


@dataclass(frozen=True)
class Page:
    """What a list command was asked for: how many rows, after which seq, and in which format."""

    limit: int | None
    after: int | None
    fmt: str  # "table" | "tsv" | "json"

    @classmethod
    def from_options(
        cls,
        limit: int | None,
        after: int | None,
        show_all: bool,
        as_json: bool,
        as_tsv: bool,
        *,
        out: TextIO | None = None,
    ) -> Page:
        """Resolve the listing options (``--json`` wins over ``--tsv``; ``--all`` over the default limit)."""
        if as_json and as_tsv:
            raise click.UsageError("give --json or --tsv, not both")
        if show_all and limit is not None:
            raise click.UsageError("give --all or --limit, not both")
        tty = (out or sys.stdout).isatty()
        fmt = "json" if as_json else "tsv" if as_tsv or not tty else "table"
        if limit is None and not show_all and fmt == "table":
            limit = TERMINAL_LIMIT
        return cls(limit=limit, after=after, fmt=fmt)


def _tsv_cell(value: str) -> str:
    # Tabs and line breaks inside a value would split the row: escape them the way PostgreSQL's COPY does.
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def emit(
    page: Page,
    columns: Sequence[str],
    rows: Iterable[Any],
    *,
    cells: Callable[[Any], Sequence[str]],
    as_dict: Callable[[Any], Any],
    cursor: Callable[[Any], int | None],
    out: TextIO | None = None,
) -> int:
    """Write ``rows`` in the page's format; returns how many were written.

    ``rows`` should yield at most ``page.limit + 1`` items: one more than the page tells that there is a
    next page (it is not printed). ``cells`` gives a row's column texts, ``as_dict`` its JSON form,
    ``cursor`` the seq to pass to ``--after`` for the page after it.
    """
    stream = out or sys.stdout
    it: Iterator[Any] = iter(rows)
    written = 0
    last: Any = None
    has_more = False
    if page.fmt == "table":
        buffered: list[Sequence[str]] = []
        for row in it:
            if page.limit is not None and written >= page.limit:
                has_more = True
                break
            buffered.append(cells(row))
            last = row
            written += 1
        _table(columns, buffered, stream)
    else:
        if page.fmt == "tsv":
            stream.write("\t".join(columns) + "\n")
        for row in it:
            if page.limit is not None and written >= page.limit:
                has_more = True
                break
            if page.fmt == "json":
                # ASCII: U+2028/U+2029 inside values would split lines for many JSON-lines readers.
                stream.write(json.dumps(as_dict(row), separators=(",", ":")) + "\n")
            else:
                stream.write("\t".join(_tsv_cell(c) for c in cells(row)) + "\n")
            last = row
            written += 1
    stream.flush()
    if has_more:
        nxt = cursor(last) if last is not None else None
        hint = f" --after {nxt}" if nxt is not None else ""
        click.echo(f"{written} rows shown; more:{hint} (or --all)", err=True)
    return written


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], stream: TextIO) -> None:
    """Aligned columns; every column is shown in full except the last, which is cut to the terminal."""
    if not rows:
        click.echo("(no rows)", file=stream)
        return
    widths = [max(len(columns[i]), *(len(r[i]) for r in rows)) for i in range(len(columns) - 1)]
    term = shutil.get_terminal_size((120, 24)).columns
    room = max(20, term - sum(widths) - 2 * len(widths))

    def line(values: Sequence[str]) -> str:
        head = "  ".join(v.ljust(w) for v, w in zip(values[:-1], widths, strict=True))
        tail = values[-1].replace("\n", " ")
        if len(tail) > room:
            tail = tail[: room - 1] + "…"
        return (head + "  " + tail).rstrip() if head else tail

    click.echo(click.style(line(columns), bold=True), file=stream)
    for r in rows:
        click.echo(line(r), file=stream)
