pymodgen_macros::bind_pymodule!(json);

fn main() {}
