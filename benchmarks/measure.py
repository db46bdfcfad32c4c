# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Helpers the benchmark scripts share."""
import os.path as osp
from typing import List, Tuple

RESULTS = osp.join(osp.dirname(osp.abspath(__file__)), 'RESULTS.md')


def rss_mb() -> float:
    """This process's resident memory now, in MB (peak: ``resource.getrusage``)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return 0.0


def _sections(document: str) -> List[Tuple[str, int, int]]:
    """(heading, first line, end line) of every ``## `` section of a markdown document; a
    section runs to the next ``#`` or ``##`` heading or the end (``###`` stays inside, and so
    does a ``#`` line in a fenced code block)."""
    lines, sections, fenced = document.split('\n'), [], False
    for i, line in enumerate(lines):
        if line.startswith('```'):
            fenced = not fenced
        if fenced or not (line.startswith('## ') or line.startswith('# ')):
            continue
        if sections and sections[-1][2] is None:
            sections[-1][2] = i
        if line.startswith('## '):
            sections.append([line.rstrip(), i, None])
    if sections and sections[-1][2] is None:
        sections[-1][2] = len(lines)
    return [tuple(section) for section in sections]


def put_section(document: str, text: str) -> str:
    """``document`` with the ``## `` section ``text`` in place of the section with the same
    heading line, or appended when there is none; the sections stay one blank line apart.

    Raises:
        ValueError: ``text`` does not start with a ``## `` heading.
    """
    section = text.strip('\n')
    heading = section.split('\n', 1)[0].rstrip()
    if not heading.startswith('## '):
        raise ValueError(f'a benchmark section starts with a "## " heading, not {heading!r}')
    lines = document.split('\n')
    same = [(start, end) for title, start, end in _sections(document) if title == heading]
    if not same:
        return document.rstrip('\n') + '\n\n' + section + '\n'
    start, end = same[0]
    before = '\n'.join(lines[:start]).rstrip('\n')
    after = '\n'.join(lines[end:]).strip('\n')
    return '\n\n'.join(part for part in (before, section, after) if part) + '\n'


def record(text: str, path: str = RESULTS) -> None:
    """Print a benchmark's result section and put it into ``path`` (benchmarks/RESULTS.md): it
    replaces the section with the same ``## `` heading where it stands, so each benchmark keeps
    one section, or is appended when the benchmark has none yet."""
    print(text)
    with open(path, encoding='utf-8') as f:
        document = f.read()
    with open(path, 'w', encoding='utf-8') as f:
        f.write(put_section(document, text))


def add_benchmark_arguments(parser) -> None:
    """Options every benchmark takes: threads, skipping the MONAI peers, the child mode in
    which one measurement runs in a fresh process (so peak memory is its own)."""
    import argparse
    import os
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--no-peers', action='store_true', help='skip the MONAI peers')
    parser.add_argument('--child', help=argparse.SUPPRESS)
