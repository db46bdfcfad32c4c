# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Helpers the benchmark scripts share."""
import os
import os.path as osp
import re
from typing import Iterator, List, Optional, Sequence, Tuple

RESULTS = osp.join(osp.dirname(osp.abspath(__file__)), 'RESULTS.md')
HISTORY = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'docs', 'results_history.md')


def rss_mb() -> float:
    """This process's resident memory now, in MB (peak: ``resource.getrusage``)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return 0.0


def _outside_code(lines: List[str]) -> Iterator[Tuple[int, str]]:
    """(index, line) of the lines of a markdown document outside its fenced code blocks."""
    fenced = False
    for i, line in enumerate(lines):
        if line.startswith('```'):
            fenced = not fenced
        if not fenced:
            yield i, line


def _sections(document: str) -> List[Tuple[str, int, int]]:
    """(heading, first line, end line) of every ``## `` section of a markdown document; a
    section runs to the next ``#`` or ``##`` heading or the end (``###`` stays inside, and so
    does a ``#`` line in a fenced code block)."""
    lines, sections = document.split('\n'), []
    for i, line in _outside_code(lines):
        if not (line.startswith('## ') or line.startswith('# ')):
            continue
        if sections and sections[-1][2] is None:
            sections[-1][2] = i
        if line.startswith('## '):
            sections.append([line.rstrip(), i, None])
    if sections and sections[-1][2] is None:
        sections[-1][2] = len(lines)
    return [tuple(section) for section in sections]


def _heading(text: str) -> str:
    heading = text.strip('\n').split('\n', 1)[0].rstrip()
    if not heading.startswith('## '):
        raise ValueError(f'a benchmark section starts with a "## " heading, not {heading!r}')
    return heading


# a line of a document's contents list: "- [Title](#anchor)"
_CONTENTS_LINE = re.compile(r'- \[.*\]\(#[^)]*\)')


def anchor(title: str, taken: Sequence[str] = ()) -> str:
    """The anchor a markdown renderer (GitHub's) gives a heading ``title``: lower case,
    punctuation dropped (``-`` and ``_`` kept), spaces to hyphens; ``-1``, ``-2``... when
    ``taken`` (the anchors of the headings above it) already has it."""
    base = re.sub(r'[^\w\- ]', '', title.strip().lower()).replace(' ', '-')
    name, n = base, 0
    while name in taken:
        n += 1
        name = f'{base}-{n}'
    return name


def headings(document: str) -> List[Tuple[int, str, str]]:
    """(level, title, anchor) of every heading of a markdown document, in order (not the ``#``
    lines of fenced code blocks)."""
    found, anchors = [], []
    for _, line in _outside_code(document.split('\n')):
        match = re.match(r'(#{1,6}) (.*)', line)
        if match:
            anchors.append(anchor(match.group(2), anchors))
            found.append((len(match.group(1)), match.group(2).rstrip(), anchors[-1]))
    return found


def contents_lines(document: str) -> List[int]:
    """Indices of the lines of ``document``'s contents list: the first run of consecutive
    ``- [Title](#anchor)`` lines outside code blocks (nested items included); a list of links
    further down is body text, not the contents."""
    lines = document.split('\n')
    for i, line in _outside_code(lines):
        if _CONTENTS_LINE.fullmatch(line):
            end = i + 1
            while end < len(lines) and _CONTENTS_LINE.fullmatch(lines[end].lstrip(' ')):
                end += 1
            return list(range(i, end))
    return []


def add_to_contents(document: str, heading: str) -> str:
    """``document`` with a line for its last section headed ``heading`` (``## ...``) added at
    the end of its contents list; unchanged when it has no contents list or lists it already."""
    lines, listed = document.split('\n'), contents_lines(document)
    sections = [(title, name) for level, title, name in headings(document) if level == 2]
    targets = [name for title, name in sections if f'## {title}' == heading.rstrip()]
    if not listed or not targets:
        return document
    if any(lines[i].endswith(f'](#{targets[-1]})') for i in listed):
        return document
    lines.insert(listed[-1] + 1, f'- [{heading.rstrip()[3:]}](#{targets[-1]})')
    return '\n'.join(lines)


def find_section(document: str, heading: str) -> Optional[str]:
    """The text of ``document``'s ``## `` section with this heading line (None if absent)."""
    lines = document.split('\n')
    for title, start, end in _sections(document):
        if title == heading:
            return '\n'.join(lines[start:end]).strip('\n')
    return None


def put_section(document: str, text: str) -> str:
    """``document`` with the ``## `` section ``text`` in place of the section with the same
    heading line, or appended when there is none; the sections stay one blank line apart.

    Raises:
        ValueError: ``text`` does not start with a ``## `` heading.
    """
    section, heading = text.strip('\n'), _heading(text)
    lines = document.split('\n')
    same = [(start, end) for title, start, end in _sections(document) if title == heading]
    if not same:
        return document.rstrip('\n') + '\n\n' + section + '\n'
    start, end = same[0]
    before = '\n'.join(lines[:start]).rstrip('\n')
    after = '\n'.join(lines[end:]).strip('\n')
    return '\n\n'.join(part for part in (before, section, after) if part) + '\n'


def _write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: a stop half-way leaves the old
    file whole."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, path)


def record(text: str, path: str = RESULTS, history: Optional[str] = HISTORY) -> None:
    """Print a benchmark's result section and put it into ``path`` (benchmarks/RESULTS.md): it
    replaces the section with the same ``## `` heading where it stands, so each benchmark keeps
    one section, or is appended when the benchmark has none yet. The section it replaces, with
    any prose written under it, moves to the end of ``history`` (docs/results_history.md)
    under a heading that says so."""
    print(text)
    with open(path, encoding='utf-8') as f:
        document = f.read()
    old = find_section(document, _heading(text))
    if history and old is not None and old != text.strip('\n'):
        title = old.split('\n', 1)[0][3:]
        body = old.split('\n', 1)[1] if '\n' in old else ''
        with open(history, encoding='utf-8') as f:
            past = f.read()
        moved = f'## {title} (the run before, moved from benchmarks/RESULTS.md)'
        _write(history, add_to_contents(past.rstrip('\n') + f'\n\n{moved}\n{body}\n', moved))
    _write(path, add_to_contents(put_section(document, text), _heading(text)))


def add_benchmark_arguments(parser) -> None:
    """Options every benchmark takes: threads, skipping the MONAI peers, the child mode in
    which one measurement runs in a fresh process (so peak memory is its own)."""
    import argparse
    import os
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--no-peers', action='store_true', help='skip the MONAI peers')
    parser.add_argument('--child', help=argparse.SUPPRESS)
