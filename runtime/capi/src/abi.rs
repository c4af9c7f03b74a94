//! What the Lisp side checks that it agrees on with this library: the ABI's version
//! (`pmg_abi_version`, compared at load time) and its layout (`pmg_abi_layout`: the
//! sizes and field offsets of the structs Lisp reads and writes, and the values of the
//! constants it passes or compares, taken from the Rust definitions themselves; a test of
//! the Lisp runtime compares them with what `runtime/lisp/src/ffi.lisp` declares).

use super::*;
use std::fmt::Write;
use std::mem::{offset_of, size_of};
use std::sync::OnceLock;

/// The version of the C ABI: bumped whenever a `pmg_*` signature, a struct layout or a
/// constant's meaning changes, or an entry or constant the Lisp side uses is added,
/// together with `+abi-version+` in `runtime/lisp/src/library.lisp`. 2: the per-scope
/// float switch (`pmg_fp_scope_*`), `ARG_ARRAY` and `TAG_ARG`. 3: the on-demand per-call
/// float switch (`pmg_set_fp_switch` takes a mode and returns one, `pmg_fp_switch`,
/// `pmg_fp_traps`).
pub const ABI_VERSION: i64 = 3;

/// The version of the C ABI this library implements ([`ABI_VERSION`]).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_abi_version() -> i64 {
    ABI_VERSION
}

/// The layout of the ABI as text, one item per line, each a name and integers separated by
/// single spaces: `struct NAME SIZE` for each struct, `field NAME.FIELD OFFSET SIZE` for each
/// of its fields, `const NAME VALUE` for each constant. A static string (never freed).
#[unsafe(no_mangle)]
pub extern "C" fn pmg_abi_layout() -> *const c_char {
    static LAYOUT: OnceLock<CString> = OnceLock::new();
    LAYOUT.get_or_init(|| CString::new(layout()).unwrap_or_default()).as_ptr()
}

/// The size of the field `field` selects, without a value of `S`.
fn field_size<S, T>(_field: fn(&S) -> &T) -> usize {
    size_of::<T>()
}

macro_rules! structs {
    ($out:ident; $($ty:ident { $($field:ident),* $(,)? })*) => {$(
        let _ = writeln!($out, "struct {} {}", stringify!($ty), size_of::<$ty>());
        $(
            let _ = writeln!(
                $out,
                "field {}.{} {} {}",
                stringify!($ty),
                stringify!($field),
                offset_of!($ty, $field),
                field_size(|s: &$ty| &s.$field),
            );
        )*
    )*};
}

macro_rules! consts {
    ($out:ident; $($name:ident)*) => {$(
        let _ = writeln!($out, "const {} {}", stringify!($name), $name);
    )*};
}

/// The text `pmg_abi_layout` returns.
pub fn layout() -> String {
    let mut out = String::new();
    structs! { out;
        PmgValue { tag, kind, len, i, f, f2, data, obj }
        PmgArg { tag, bits, len }
        PmgArrayInfo { holder, data, itemsize, ndim, format, shape, strides, readonly }
    }
    consts! { out;
        TAG_ERROR TAG_NONE TAG_TRUE TAG_FALSE TAG_INT TAG_FLOAT TAG_STR TAG_BIGINT TAG_COMPLEX
        TAG_TUPLE TAG_LIST TAG_DICT TAG_SET TAG_FROZENSET TAG_BYTES TAG_NDARRAY TAG_NPSCALAR
        TAG_FRACTION TAG_LISPOBJ TAG_OTHER TAG_ARG
        ARG_BORROWED ARG_OWNED ARG_I64 ARG_F64 ARG_TRUE ARG_FALSE ARG_NONE ARG_STR1 ARG_STR4
        ARG_ARRAY
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each struct's listed fields cover all its bytes without overlapping: a field added
    /// to a struct but not to [`layout`] (so never compared with the Lisp side) fails this.
    #[test]
    fn layout_lists_every_field_of_every_struct() {
        let text = layout();
        let mut structs: Vec<(&str, usize)> = Vec::new();
        let mut fields: Vec<(&str, usize, usize)> = Vec::new();
        for line in text.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            let n = |i: usize| words[i].parse::<usize>().unwrap_or_else(|_| panic!("bad line {line:?}"));
            match words[0] {
                "struct" => structs.push((words[1], n(2))),
                "field" => fields.push((words[1].split('.').next().unwrap(), n(2), n(3))),
                "const" => assert_eq!(words.len(), 3, "{line:?}"),
                _ => panic!("bad line {line:?}"),
            }
        }
        assert_eq!(structs.len(), 3, "{text}");
        for (name, size) in structs {
            let mut covered = vec![false; size];
            for &(_, offset, len) in fields.iter().filter(|f| f.0 == name) {
                for b in &mut covered[offset..offset + len] {
                    assert!(!*b, "{name}: fields overlap at {offset}");
                    *b = true;
                }
            }
            // (padding is allowed only where C would put it: none in these structs)
            let missing: Vec<usize> = (0..size).filter(|&i| !covered[i]).collect();
            assert!(missing.is_empty(), "{name}: bytes {missing:?} are in no listed field");
        }
        assert_eq!(pmg_abi_version(), ABI_VERSION);
        let from_c = unsafe { CStr::from_ptr(pmg_abi_layout()) }.to_str().unwrap();
        assert_eq!(from_c, text);
    }
}
