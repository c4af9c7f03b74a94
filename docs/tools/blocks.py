#!/usr/bin/env python3
"""The code blocks of the book: which run, which do not and why.

    blocks.py BOOK-DIR LISP-OUT-DIR

Reads every page SUMMARY.md names (in its order), then README.md and runtime/lisp/README.md,
and every fenced code block in them.
A block must have a language. Lisp and Rust blocks either run or say why not:

- a Lisp block runs (docs/tools/lisp-examples.lisp evaluates it, checking each `; => value`);
  ```lisp,norun blocks start with a `;; norun: REASON` line;
- a Rust block runs when it is one `{{#include ../tests/book.rs:ANCHOR}}` line: the anchored
  region of tests/book.rs, which `cargo test -p pymodgen-tests --test book` compiles and runs
  (or of tests/build.rs, the build script cargo compiles and runs for that test);
  ```rust,norun blocks start with a `// norun: REASON` line.

Writes each Lisp block to run as LISP-OUT-DIR/NNNN.lisp (first line `;;;; page:line`), prints
one line per failure (`FAIL page:line: why`), then a count per language, and last
`N passed, N failed` (a block that breaks these rules is a failure; the Lisp blocks are
counted by the Lisp runner). Exit status 1 on a failure.
"""
import os
import re
import sys

# The files whose ANCHOR regions the book may include as Rust that runs: the book's test, and
# the build script of its package (which cargo compiles and runs to build that test).
RUN_RUST = (os.path.join('tests', 'book.rs'), os.path.join('tests', 'build.rs'))
FENCE = re.compile(r'^(\s*)(```+)(.*)$')
INCLUDE = re.compile(r'^\{\{#include\s+(\S+?):([A-Za-z0-9_]+)\}\}$')


def pages(src):
    out = []
    for line in open(os.path.join(src, 'SUMMARY.md'), encoding='utf-8'):
        for target in re.findall(r'\]\(([^)]+\.md)\)', line):
            out.append(target)
    return out


def blocks(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            indent, ticks, info = m.group(1), m.group(2), m.group(3).strip()
            start = i + 1
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(ticks):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
                i += 1
            yield start, info, body
        i += 1


def regions(path):
    """The ANCHOR regions of a file, dedented: {name: text}."""
    out, current = {}, None
    for line in open(path, encoding='utf-8').read().split('\n'):
        m = re.match(r'\s*// ANCHOR(_END)?: (\w+)', line)
        if m:
            current = None if m.group(1) else m.group(2)
            if current:
                out[current] = []
            continue
        if current:
            out[current].append(line)
    import textwrap
    return {k: textwrap.dedent('\n'.join(v)).strip() for k, v in out.items()}


def main(src, lisp_out):
    root = os.path.abspath(os.path.join(src, '..', '..'))
    book_rs = regions(os.path.join(root, 'tests', 'book.rs'))
    os.makedirs(lisp_out, exist_ok=True)
    failures = []
    counts = {}  # lang -> [run, norun]
    reasons = {}
    n = 0
    # The README's examples are checked as the book's are; its Rust blocks (no mdBook include
    # there) must be the very text of a region of tests/book.rs.
    for page in pages(src) + [os.path.join('..', '..', 'README.md'),
                              os.path.join('..', '..', 'runtime', 'lisp', 'README.md')]:
        path = os.path.join(src, page)
        if not os.path.exists(path):
            failures.append(f'{page}: named in SUMMARY.md but missing')
            continue
        for line, info, body in blocks(path):
            where = f'{page}:{line}'
            words = [w for w in re.split(r'[,\s]+', info) if w]
            if not words:
                failures.append(f'{where}: a code block without a language (```text, ```sh, ```lisp ...)')
                continue
            lang, attrs = words[0], words[1:]
            if lang not in ('lisp', 'rust'):
                counts.setdefault(lang, [0, 0])[0] += 1
                continue
            c = counts.setdefault(lang, [0, 0])
            comment = ';;' if lang == 'lisp' else '//'
            if 'norun' in attrs:
                first = body[0].strip() if body else ''
                m = re.match(re.escape(comment) + r'\s*norun:\s*(\S.*)$', first)
                if not m:
                    failures.append(f'{where}: a {lang},norun block must start with `{comment} norun: REASON`')
                    continue
                c[1] += 1
                reasons.setdefault(lang, []).append(f'{where}: {m.group(1)}')
                continue
            if lang == 'rust' and page.endswith('README.md'):
                text = '\n'.join(body).strip()
                if text in book_rs.values():
                    c[0] += 1
                else:
                    failures.append(f'{where}: a Rust block of the README must be the text of an ANCHOR region of tests/book.rs')
                continue
            if lang == 'rust':
                text = '\n'.join(body).strip()
                m = INCLUDE.match(text)
                ok = False
                if m:
                    file = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
                    if os.path.relpath(file, root) not in RUN_RUST:
                        failures.append(f'{where}: a Rust block that runs includes tests/book.rs or tests/build.rs, not {m.group(1)}')
                    elif f'ANCHOR: {m.group(2)}' not in open(file, encoding='utf-8').read():
                        failures.append(f'{where}: tests/book.rs has no anchor {m.group(2)}')
                    else:
                        ok = True
                else:
                    failures.append(f'{where}: a Rust block must be `{{{{#include ../tests/book.rs:ANCHOR}}}}` '
                                    '(run by cargo test) or ```rust,norun with `// norun: REASON`')
                if ok:
                    c[0] += 1
                continue
            n += 1
            with open(os.path.join(lisp_out, f'{n:04d}.lisp'), 'w', encoding='utf-8') as f:
                f.write(f';;;; {where}\n' + '\n'.join(body) + '\n')
            c[0] += 1
    for f in failures:
        print('FAIL ' + f)
    for lang in sorted(counts):
        run, norun = counts[lang]
        if lang in ('lisp', 'rust'):
            print(f'{lang}: {run + norun} blocks, {run} run in CI, {norun} not run')
        else:
            print(f'{lang}: {run} blocks (not code that runs)')
    if os.environ.get('PYMODGEN_DOCS_REASONS'):
        for lang in sorted(reasons):
            for r in reasons[lang]:
                print(f'  not run ({lang}) {r}')
    rust_run = counts.get('rust', [0, 0])[0]
    # The Rust blocks that run are counted by cargo test; this script counts its own checks:
    # one per page read, failed when a block of the page breaks the rules.
    bad_pages = {f.split(':', 1)[0] for f in failures}
    total = len(pages(src)) + 2
    print(f'{total - len(bad_pages)} passed, {len(bad_pages)} failed')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
