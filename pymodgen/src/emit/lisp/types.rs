//! Python types (manifest schema 2) → the Lisp type every result of that type has after the
//! runtime's default translation (the book's "Type tables", "Type translation").
//!
//! The mapping must be sound: the declared type is proclaimed (`ftype`) and trusted by the
//! compiler, so it has to hold for every value a call the stub allows can return. Hence:
//!
//! | Python | Lisp |
//! |---|---|
//! | `str` (and subclasses) | `string` |
//! | `int` | `(or integer boolean)`: `bool` is a subclass of `int` |
//! | `float` | `(or double-float integer boolean)`: `int` is accepted where `float` is |
//! | `complex` | `(or number boolean)` |
//! | `bool` | `boolean` |
//! | `bytes` | `(vector (unsigned-byte 8))` |
//! | `list[...]` | `simple-vector` |
//! | `tuple[...]` | `list` (the empty tuple is `+py-empty-tuple+`, a wrapper) |
//! | `dict[...]` | `hash-table` |
//! | `None` | `python-object` (`+py-none+`) |
//! | `Literal[...]` | the type of its values |
//! | `A \| B`, TypeVar with a bound or constraints | the union |
//! | anything else (classes, `Any`, `Self`, protocols, numpy) | `t`: no declaration |
//!
//! Every declared type also admits `python-object` (a `pyobject-wrapper`, or a typed wrapper of
//! a class a generated package defines: runtime/lisp/src/classes.lisp), what results are
//! inside `with-remote-objects`, and what a subclass of `dict` that a package knows is
//! (`collections.Counter`). An overloaded function's type is the union over its overloads.

use crate::manifest::{Function, Literal, Type};

/// The Lisp type of the results of `f`, or `None` when it is `t` (nothing to declare).
pub(super) fn result_type(f: &Function) -> Option<String> {
    let mut parts = Parts::default();
    if f.overloads.is_empty() {
        parts.add(f.return_type.as_ref()?)?;
    } else {
        for o in &f.overloads {
            parts.add(o.return_type.as_ref()?)?;
        }
        if let Some(t) = &f.return_type {
            parts.add(t)?;
        }
    }
    Some(parts.render())
}

/// A union of Lisp type atoms, in first-seen order (output is deterministic).
#[derive(Default)]
struct Parts(Vec<&'static str>);

const WRAPPER: &str = "pymodgen:python-object";

impl Parts {
    fn push(&mut self, atoms: &[&'static str]) -> Option<()> {
        for a in atoms {
            if !self.0.contains(a) {
                self.0.push(a);
            }
        }
        Some(())
    }

    /// Adds the Lisp type of `t`; `None` when it is `t` (the whole union is then `t`).
    fn add(&mut self, t: &Type) -> Option<()> {
        match t {
            Type::None => self.push(&[WRAPPER]),
            Type::Class { name, .. } => self.push(class(name)?),
            Type::Union { of } => of.iter().try_for_each(|t| self.add(t)),
            Type::Literal { values } => values.iter().try_for_each(|v| self.push(literal(v)?)),
            Type::Typevar { bound: Some(b), .. } => self.add(b),
            Type::Typevar { bound: None, constraints, .. } if !constraints.is_empty() => {
                constraints.iter().try_for_each(|t| self.add(t))
            }
            _ => None,
        }
    }

    fn render(mut self) -> String {
        self.push(&[WRAPPER]);
        if self.0.len() == 1 { self.0[0].to_owned() } else { format!("(cl:or {})", self.0.join(" ")) }
    }
}

fn class(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "builtins.str" => &["cl:string"],
        "builtins.int" => &["cl:integer", "cl:boolean"],
        "builtins.float" => &["cl:double-float", "cl:integer", "cl:boolean"],
        "builtins.complex" => &["cl:number", "cl:boolean"],
        "builtins.bool" => &["cl:boolean"],
        "builtins.bytes" => &["(cl:vector (cl:unsigned-byte 8))"],
        "builtins.list" => &["cl:simple-vector"],
        "builtins.tuple" => &["cl:list"],
        "builtins.dict" => &["cl:hash-table"],
        _ => return None,
    })
}

fn literal(l: &Literal) -> Option<&'static [&'static str]> {
    Some(match l {
        Literal::None => &[WRAPPER],
        Literal::Bool(_) => &["cl:boolean"],
        Literal::Int(_) => &["cl:integer"],
        Literal::Str(_) => &["cl:string"],
        Literal::Bytes(_) => &["(cl:vector (cl:unsigned-byte 8))"],
        Literal::Float(_) | Literal::Tuple(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str) -> Type {
        Type::Class { name: name.into(), args: vec![] }
    }

    fn returning(t: Option<Type>) -> Function {
        let mut f: Function = serde_json::from_str(
            r#"{"name": "f", "doc": null, "signature_source": "inspect", "params": [], "returns": null}"#,
        )
        .unwrap();
        f.return_type = t;
        f
    }

    #[test]
    fn basic_types() {
        assert_eq!(
            result_type(&returning(Some(class("builtins.str")))).as_deref(),
            Some("(cl:or cl:string pymodgen:python-object)")
        );
        assert_eq!(result_type(&returning(Some(Type::None))).as_deref(), Some("pymodgen:python-object"));
        assert_eq!(
            result_type(&returning(Some(Type::Union { of: vec![class("builtins.int"), Type::None] }))).as_deref(),
            Some("(cl:or cl:integer cl:boolean pymodgen:python-object)")
        );
        assert_eq!(result_type(&returning(None)), None);
        assert_eq!(result_type(&returning(Some(Type::Any))), None);
        assert_eq!(result_type(&returning(Some(class("numpy.ndarray")))), None);
        assert_eq!(
            result_type(&returning(Some(Type::Union { of: vec![class("builtins.str"), Type::SelfType] }))),
            None,
            "one member that maps to T makes the union T"
        );
    }

    #[test]
    fn literals_and_typevars() {
        let lit = Type::Literal { values: vec![Literal::Str("a".into()), Literal::Str("b".into())] };
        assert_eq!(result_type(&returning(Some(lit))).as_deref(), Some("(cl:or cl:string pymodgen:python-object)"));
        let tv = Type::Typevar {
            name: "AnyStr".into(),
            bound: None,
            constraints: vec![class("builtins.str"), class("builtins.bytes")],
        };
        assert_eq!(
            result_type(&returning(Some(tv))).as_deref(),
            Some("(cl:or cl:string (cl:vector (cl:unsigned-byte 8)) pymodgen:python-object)")
        );
        let free = Type::Typevar { name: "T".into(), bound: None, constraints: vec![] };
        assert_eq!(result_type(&returning(Some(free))), None);
    }
}
