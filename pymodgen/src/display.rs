//! The human-readable form of a manifest (`pymodgen inspect MODULE`).

use std::io::{self, Write};

use crate::manifest::{AttributeKind, Function, FunctionKind, Manifest};

/// Writes `manifest` with signatures as Python shows them.
pub fn write_manifest(out: &mut impl Write, m: &Manifest) -> io::Result<()> {
    let version = m.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
    writeln!(out, "module {}{version}  (python {}, hash {})", m.module, m.python.version, m.hash)?;
    if let Some(doc) = m.doc.as_deref().and_then(|d| d.lines().next()) {
        writeln!(out, "  {doc}")?;
    }
    if !m.functions.is_empty() {
        writeln!(out, "\nfunctions:")?;
        for f in &m.functions {
            write_function(out, "  ", f)?;
        }
    }
    if !m.classes.is_empty() {
        writeln!(out, "\nclasses:")?;
        for c in &m.classes {
            let bases = if c.bases.is_empty() { String::new() } else { format!("({})", c.bases.join(", ")) };
            writeln!(out, "  class {}{bases}", c.name)?;
            if let Some(ctor) = &c.constructor {
                write_function(out, "    ", ctor)?;
            }
            for method in &c.methods {
                write_function(out, "    .", method)?;
            }
            for a in &c.attributes {
                let what = match a.kind {
                    AttributeKind::Property => "property",
                    AttributeKind::Descriptor => "descriptor",
                    AttributeKind::Data => "attribute",
                };
                let ro = if a.readonly { " (read-only)" } else { "" };
                let ty = match (&a.annotation, &a.type_) {
                    (_, Some(t)) => format!(": {}", t.python()),
                    (Some(text), None) => format!(": {text}"),
                    _ => String::new(),
                };
                writeln!(out, "    .{}{ty}  {what}{ro}", a.name)?;
            }
        }
    }
    if !m.constants.is_empty() {
        writeln!(out, "\nconstants:")?;
        for c in &m.constants {
            writeln!(out, "  {}: {} = {}", c.name, c.type_, truncate(&c.repr, 60))?;
        }
    }
    if !m.objects.is_empty() {
        writeln!(out, "\nother values:")?;
        for o in &m.objects {
            writeln!(out, "  {}: {}", o.name, o.type_)?;
        }
    }
    if !m.submodules.is_empty() {
        writeln!(out, "\nsubmodules:")?;
        for s in &m.submodules {
            writeln!(out, "  {s}")?;
        }
    }
    if !m.skipped.is_empty() {
        writeln!(out, "\nskipped:")?;
        for s in &m.skipped {
            writeln!(out, "  {}: {}", s.name, s.reason)?;
        }
    }
    Ok(())
}

fn write_function(out: &mut impl Write, indent: &str, f: &Function) -> io::Result<()> {
    let prefix = match f.kind {
        FunctionKind::Staticmethod => "@staticmethod ",
        FunctionKind::Classmethod => "@classmethod ",
        _ => "",
    };
    let note = match f.signature_source {
        crate::manifest::SignatureSource::Inspect => String::new(),
        other => format!(
            "  [signature: {}]",
            serde_json::to_value(other).map(|v| v.as_str().unwrap_or("").to_owned()).unwrap_or_default()
        ),
    };
    writeln!(out, "{indent}{prefix}{}{}{note}", f.name, f.typed_signature())?;
    for o in &f.overloads {
        writeln!(out, "{indent}    @overload {}{}", f.name, o.typed_signature())?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}
