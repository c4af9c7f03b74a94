pymodgen_macros::bind_pymodule!("no_such_module_pymodgen");

fn main() {}
