//! Helpers shared by the test crates.

use std::process::Command;

/// The standard-library modules the sweeps cover, and the ones they leave out.
pub struct Stdlib {
    /// Importable here and not skipped on purpose, sorted.
    pub modules: Vec<String>,
    /// Skipped on purpose: `fixtures/stdlib-skip.txt` says why.
    pub skipped: Vec<&'static str>,
    /// Not on this platform (`importlib.util.find_spec` is None: msvcrt, winreg, ...).
    pub absent: Vec<String>,
}

/// `sys.stdlib_module_names` of `python3`, split as [`Stdlib`] describes.
pub fn stdlib() -> Stdlib {
    let skipped: Vec<&'static str> = include_str!("../fixtures/stdlib-skip.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, importlib.util\nfor n in sorted(sys.stdlib_module_names):\n print(n, importlib.util.find_spec(n) is not None)",
        ])
        .output()
        .expect("python3 runs");
    let (mut modules, mut absent) = (Vec::new(), Vec::new());
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (name, found) = line.split_once(' ').unwrap();
        if found != "True" {
            absent.push(name.to_owned());
        } else if !skipped.contains(&name) {
            modules.push(name.to_owned());
        }
    }
    Stdlib { modules, skipped, absent }
}
