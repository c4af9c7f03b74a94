#!/usr/bin/env python3
"""Checks the built book: every page of SUMMARY.md was built, and every internal link resolves.

    links.py SRC-DIR BOOK-DIR

For each page SUMMARY.md names, BOOK-DIR must hold its .html. In every built page (not the
rustdoc copied beside them, whose links into other crates' docs are not ours), each `href`
and `src` that is not external (no scheme, not `//`) must name a file of BOOK-DIR, and its
`#fragment`, when it has one, an `id` of that file. The relative links of the repository's own
Markdown pages that point into the book (README.md ...) must name files. Prints `FAIL page: link (why)` per broken
link and last `N passed, N failed`, one check per page. Exit status 1 on a failure.

mdbook-linkcheck does the same but is a second Rust program to build in CI (about as long as
mdBook itself, with its own HTTP stack); this reads the HTML mdBook wrote, with the standard
library, in well under a second.
"""
import html.parser
import os
import re
import sys
import urllib.parse


REPO_PAGES = ['README.md', 'ARCHITECTURE.md', 'tests/README.md', 'runtime/lisp/README.md',
              'docs/lisp-bindings.md']


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ('id', 'name') and value:
                self.ids.add(value)
            if name in ('href', 'src') and value is not None:
                self.links.append(value)


def parse(path, cache={}):
    if path not in cache:
        p = Page()
        with open(path, encoding='utf-8') as f:
            p.feed(f.read())
        cache[path] = p
    return cache[path]


def main(src, book):
    pages = []
    for line in open(os.path.join(src, 'SUMMARY.md'), encoding='utf-8'):
        pages += re.findall(r'\]\(([^)]+)\.md\)', line)
    failures = {}
    # (404.html is mdBook's page for a web server's root: its links are absolute, so not checked.)
    built = [p + '.html' for p in pages] + ['index.html', 'print.html']
    for page in built:
        path = os.path.join(book, page)
        if not os.path.exists(path):
            failures.setdefault(page, []).append('not built')
            continue
        if page == 'print.html':  # every page again, one file: its links were checked on each
            continue
        for link in parse(path).links:
            url = urllib.parse.urlsplit(link)
            if url.scheme or link.startswith('//') or link.startswith('javascript:'):
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(path), urllib.parse.unquote(url.path))) \
                if url.path else path
            if os.path.isdir(target):
                target = os.path.join(target, 'index.html')
            if not os.path.exists(target):
                failures.setdefault(page, []).append(f'{link} (no such file)')
                continue
            if url.fragment and target.endswith('.html'):
                if urllib.parse.unquote(url.fragment) not in parse(target).ids:
                    failures.setdefault(page, []).append(f'{link} (no such anchor)')
    # The repository's own Markdown pages that link into the book (read on a forge, not built):
    # each relative link must name a file of the repository.
    root = os.path.abspath(os.path.join(src, '..', '..'))
    for page in REPO_PAGES:
        path = os.path.join(root, page)
        text = open(path, encoding='utf-8').read()
        text = re.sub(r'```.*?```', '', text, flags=re.S)  # code blocks hold no links
        for link in re.findall(r'\]\(([^)\s]+)\)', text):
            url = urllib.parse.urlsplit(link)
            if url.scheme or link.startswith('#'):
                continue
            if not os.path.exists(os.path.join(os.path.dirname(path), urllib.parse.unquote(url.path))):
                failures.setdefault(page, []).append(f'{link} (no such file)')
    built += REPO_PAGES
    for page, why in sorted(failures.items()):
        for w in why:
            print(f'FAIL {page}: {w}')
    print(f'{len(built) - len(failures)} passed, {len(failures)} failed')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
