//! Python docstrings → rustdoc. The first paragraph becomes the summary (markdown
//! characters escaped); the rest, and any signature, go in a ```` ```text ```` block so
//! rustdoc neither runs doctests nor reads reStructuredText as markdown.

use proc_macro2::TokenStream;
use quote::quote;

/// Escapes markdown and HTML so that a line of text renders as itself; bare URLs become
/// autolinks (`<https://...>`).
fn escape_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let start = word.find("https://").or_else(|| word.find("http://"));
        match start {
            Some(at) => {
                let (before, url) = word.split_at(at);
                let end = url.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '/')).len();
                let (url, after) = url.split_at(end);
                escape_into(&mut out, before.trim_end_matches('<'));
                out.push('<');
                out.push_str(url);
                out.push('>');
                escape_into(&mut out, after.trim_start_matches('>'));
            }
            None => escape_into(&mut out, word),
        }
    }
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '&' | '~') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A fence longer than any run of backticks in `text`.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// The doc lines for `doc`, with `extra` lines (signature, notes) added to the text block.
pub(crate) fn doc_lines(summary_fallback: &str, doc: Option<&str>, extra: &[String]) -> Vec<String> {
    let doc = doc.map(str::trim).filter(|d| !d.is_empty());
    let (summary, rest) = match doc {
        Some(d) => {
            let mut parts = d.splitn(2, "\n\n");
            let first = parts.next().unwrap_or_default();
            (first.to_owned(), parts.next().map(str::to_owned))
        }
        None => (String::new(), None),
    };
    let mut lines: Vec<String> = Vec::new();
    if doc.is_none() {
        lines.push(summary_fallback.to_owned());
    }
    for l in summary.lines() {
        lines.push(escape_line(l.trim()));
    }
    let mut block: Vec<String> = extra.to_vec();
    if let Some(rest) = rest {
        let rest = dedent(&rest);
        if !block.is_empty() {
            block.push(String::new());
        }
        block.extend(rest.lines().map(|l| l.trim_end().to_owned()));
    }
    if !block.is_empty() {
        let joined = block.join("\n");
        let f = fence(&joined);
        lines.push(String::new());
        lines.push(format!("{f}text"));
        lines.extend(block);
        lines.push(f);
    }
    lines
}

/// Module docs: a trusted markdown `summary`, then the whole docstring in the text block.
pub(crate) fn module_doc_lines(summary: &str, doc: Option<&str>, extra: &[String]) -> Vec<String> {
    let mut lines = vec![summary.to_owned()];
    let mut block: Vec<String> = extra.to_vec();
    if let Some(d) = doc.map(str::trim).filter(|d| !d.is_empty()) {
        if !block.is_empty() {
            block.push(String::new());
        }
        block.extend(dedent(d).lines().map(|l| l.trim_end().to_owned()));
    }
    if !block.is_empty() {
        let f = fence(&block.join("\n"));
        lines.push(String::new());
        lines.push(format!("{f}text"));
        lines.extend(block);
        lines.push(f);
    }
    lines
}

/// Removes the common leading whitespace of non-blank lines.
fn dedent(text: &str) -> String {
    let indent =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    text.lines().map(|l| if l.len() >= indent { &l[indent..] } else { l.trim_start() }).collect::<Vec<_>>().join("\n")
}

/// One doc line as rustdoc may hold it: `/// line` is how it is printed, so no character may
/// end the comment early or be refused in it. A CR (`bare CR not allowed in doc-comment`),
/// other control characters and the bidi and zero-width characters (the
/// `text_direction_codepoint_in_comment` lint, deny by default) are written as Python
/// escapes (`\r`, `\x00`, `\u202e`); a line break inside a line splits it.
fn doc_attr_lines(lines: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        for part in l.split('\n') {
            let mut text = String::with_capacity(part.len() + 1);
            if !part.is_empty() {
                text.push(' ');
            }
            push_clean(&mut text, part);
            out.push(text);
        }
    }
    out
}

fn push_clean(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if crate::manifest::unprintable(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if crate::manifest::unprintable(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

/// The text of a one-line `#[doc = ...]` built from names and values: characters a doc
/// comment cannot hold written as escapes (see [`outer`]).
pub(crate) fn attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_clean(&mut out, text);
    out
}

/// `#[doc = " line"]` attributes (outer).
pub(crate) fn outer(lines: &[String]) -> TokenStream {
    let lines = doc_attr_lines(lines);
    quote! { #(#[doc = #lines])* }
}

/// `#![doc = " line"]` attributes (inner, for modules).
pub(crate) fn inner(lines: &[String]) -> TokenStream {
    let lines = doc_attr_lines(lines);
    quote! { #(#![doc = #lines])* }
}
