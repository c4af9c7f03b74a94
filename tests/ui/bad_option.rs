pymodgen_macros::bind_pymodule!("json", recursive);

fn main() {}
