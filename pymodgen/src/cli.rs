//! The `pymodgen` command line: a thin shell over the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::manifest::Manifest;
use crate::stamp::Stamps;
use crate::{Cache, EmitOptions, Lang, Loaded, Options, Tracked};

/// Typed, cached bindings to Python modules for Rust and Common Lisp.
///
/// `pymodgen MODULE... --lang rust|lisp` is short for `pymodgen generate MODULE... --lang ...`
/// (use the long form for a module named like a subcommand: `pymodgen generate inspect`).
#[derive(Parser, Debug)]
#[command(name = "pymodgen", version, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    generate: GenerateArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a binding package per module (the default command).
    Generate(GenerateArgs),
    /// Print a module's manifest: its functions, classes and constants with signatures.
    Inspect(InspectArgs),
    /// Show or clear the manifest cache.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
}

#[derive(Subcommand, Debug)]
enum CacheAction {
    /// Print the cache directory.
    Dir,
    /// List cached manifests.
    List,
    /// Remove every cached manifest.
    Clear,
}

#[derive(Args, Debug, Clone)]
struct PythonArgs {
    /// Also bind public submodules, recursively.
    #[arg(long)]
    submodules: bool,
    /// The Python interpreter (else PYMODGEN_PYTHON, PYO3_PYTHON, VIRTUAL_ENV, CONDA_PREFIX, python3 on PATH).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Put DIR in front of the interpreter's sys.path (repeatable), for packages that are not installed.
    #[arg(long, value_name = "DIR")]
    pythonpath: Vec<PathBuf>,
    /// Neither read nor write the manifest cache.
    #[arg(long)]
    no_cache: bool,
    /// Seconds one introspection may take (default: PYMODGEN_TIMEOUT, else 300).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Show the Python traceback and the cause chain of errors.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args, Debug, Clone)]
struct GenerateArgs {
    /// Python modules to bind (e.g. numpy json os.path).
    #[arg(value_name = "MODULE")]
    modules: Vec<String>,
    /// The language of the bindings.
    #[arg(long, value_enum)]
    lang: Option<Lang>,
    /// Where to write: one package per module under this directory.
    #[arg(long, value_name = "DIR", default_value = "pymodgen-out")]
    out: PathBuf,
    /// Generate from a manifest saved by `pymodgen inspect --json` instead of running Python.
    #[arg(long, value_name = "FILE")]
    manifest: Vec<PathBuf>,
    /// Rust: the pymodgen-runtime dependency of generated crates, as TOML (`"0.1"` or
    /// `{ path = "..." }`); default: this checkout's runtime/ when pymodgen runs from a
    /// checkout, else `"=<pymodgen's version>"`.
    #[arg(long, value_name = "SPEC")]
    rust_runtime: Option<String>,
    /// Rust: the name of the generated crate (default py-MODULE); one module only.
    #[arg(long, value_name = "NAME")]
    crate_name: Option<String>,
    /// Rust: skip the run-time check that the interpreter is the one bindings were made with.
    #[arg(long)]
    no_version_check: bool,
    /// Lisp: the package of the module (submodules go under it: NP, NP.RANDOM); one module only.
    #[arg(long, value_name = "NAME")]
    lisp_package: Option<String>,
    /// Lisp: the ASDF system name (default pymodgen-MODULE); one module only.
    #[arg(long, value_name = "NAME")]
    lisp_system: Option<String>,
    #[command(flatten)]
    python: PythonArgs,
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The Python module to describe.
    #[arg(value_name = "MODULE")]
    module: String,
    /// Print the manifest as JSON (stable key order; an array with --submodules).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    python: PythonArgs,
}

/// Parses the command line and runs it; errors are reported by `main`.
/// The one line an error prints: each message of its cause chain, outermost first, joined
/// with `: `, a cause left out when the line says it already (a [`crate::Error::Io`] shows its
/// OS error, which is also its `source()`): `writing rust bindings for 'json': creating
/// directory /proc/nope/json: No such file or directory (os error 2)`.
pub fn report(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Generate(args)) => generate(args),
        Some(Command::Inspect(args)) => inspect(args),
        Some(Command::Cache { action }) => cache(action),
        None => {
            if cli.generate.modules.is_empty() && cli.generate.manifest.is_empty() {
                bail!("nothing to do: name a module (`pymodgen numpy --lang rust`) or see `pymodgen --help`");
            }
            generate(cli.generate)
        }
    }
}

/// Whether `-v` was given anywhere on the command line (for error reporting in `main`).
pub fn verbose(cli: &Cli) -> bool {
    match &cli.command {
        Some(Command::Generate(a)) => a.python.verbose,
        Some(Command::Inspect(a)) => a.python.verbose,
        _ => cli.generate.python.verbose,
    }
}

fn options(args: &PythonArgs) -> Options {
    Options {
        python: args.python.clone(),
        submodules: args.submodules,
        use_cache: !args.no_cache,
        cache_dir: None,
        timeout: args.timeout.map(Duration::from_secs),
        pythonpath: args.pythonpath.clone(),
    }
}

/// Loads with a spinner on a terminal (introspecting numpy with submodules takes seconds).
fn load(module: &str, args: &PythonArgs) -> crate::Result<Loaded> {
    let spinner = indicatif::ProgressBar::new_spinner();
    if std::io::stderr().is_terminal() {
        spinner.set_message(format!("introspecting {module}"));
        spinner.enable_steady_tick(Duration::from_millis(100));
    } else {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let result = crate::load(module, &options(args));
    spinner.finish_and_clear();
    result
}

fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let Some(lang) = args.lang else {
        bail!("--lang is required: --lang rust or --lang lisp");
    };
    let options = emit_options(&args, args.modules.len() + args.manifest.len())?;
    // (module, manifests, how they were had, the text they were read from for a manifest file)
    let mut jobs: Vec<(String, Vec<Manifest>, &'static str, Vec<u8>)> = Vec::new();
    for path in &args.manifest {
        let text = std::fs::read_to_string(path).map_err(|e| crate::Error::io("reading", path, e))?;
        let manifests = crate::parse_manifest_text(&text, path)?;
        jobs.push((manifests[0].module.clone(), manifests, "from manifest file", text.into_bytes()));
    }
    for module in &args.modules {
        let start = Instant::now();
        let loaded = load(module, &args.python)?;
        let how = if loaded.cached { "cached manifest" } else { "introspected" };
        log_timing(module, how, start.elapsed());
        jobs.push((module.clone(), loaded.manifests, how, Vec::new()));
    }
    // Output stamps (see `stamp`): an unchanged module is not even emitted again.
    let stamps = if args.python.no_cache {
        None
    } else {
        Cache::default_dir(&mut Tracked::default()).ok().map(|d| Stamps::new(&d))
    };
    for (module, manifests, how, source) in jobs {
        let dir = args.out.join(package_dir_name(&module, lang));
        let key = crate::stamp::output_key(&manifests, &source, lang, &options);
        let changed = if stamps.as_ref().is_some_and(|s| s.up_to_date(&dir, &key)) {
            "up to date".to_owned()
        } else {
            if let Some(s) = &stamps {
                s.forget(&dir);
            }
            let output = crate::emit(&manifests, lang, &options)?;
            let written = crate::write_output(&dir, &output)
                .with_context(|| format!("writing {lang} bindings for '{module}'"))?;
            if let Some(s) = &stamps {
                s.record(&dir, &key, &output);
            }
            match written.len() {
                0 => "unchanged".to_owned(),
                1 => "1 file written".to_owned(),
                n => format!("{n} files written"),
            }
        };
        println!(
            "pymodgen: {lang} bindings for {module} ({} module{}, {how}) in {} ({changed})",
            manifests.len(),
            if manifests.len() == 1 { "" } else { "s" },
            dir.display()
        );
    }
    Ok(())
}

fn emit_options(args: &GenerateArgs, packages: usize) -> anyhow::Result<EmitOptions> {
    let mut options = EmitOptions::default();
    let single = [
        ("--lisp-package", &args.lisp_package),
        ("--lisp-system", &args.lisp_system),
        ("--crate-name", &args.crate_name),
    ];
    for (flag, value) in single {
        if value.is_some() && packages > 1 {
            bail!("{flag} names one package: give one module with it, not {packages}");
        }
    }
    if let Some(package) = &args.lisp_package {
        options.lisp = options.lisp.with_lisp_package(package);
    }
    if let Some(system) = &args.lisp_system {
        options.lisp = options.lisp.with_system(system);
    }
    options.rust.runtime_dependency = args.rust_runtime.clone();
    options.rust.crate_name = args.crate_name.clone();
    options.rust.no_version_check = args.no_version_check;
    Ok(options)
}

fn log_timing(module: &str, how: &str, elapsed: Duration) {
    if std::env::var_os("PYMODGEN_LOG_TIMING").is_some() {
        eprintln!("pymodgen: {module}: {how} in {:.3} s", elapsed.as_secs_f64());
    }
}

/// The directory name of a module's package: `numpy.linalg` → `numpy-linalg` (Rust crates),
/// `numpy.linalg` (Lisp systems).
fn package_dir_name(module: &str, lang: Lang) -> String {
    match lang {
        Lang::Rust => module.replace(['.', '_'], "-"),
        _ => module.to_owned(),
    }
}

fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let loaded = load(&args.module, &args.python)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let text = if args.python.submodules {
            let mut t = serde_json::to_string_pretty(&loaded.manifests)?;
            t.push('\n');
            t
        } else {
            loaded.manifests[0].to_json()
        };
        out.write_all(text.as_bytes())?;
    } else {
        for (i, manifest) in loaded.manifests.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            crate::display::write_manifest(&mut out, manifest)?;
        }
    }
    Ok(())
}

fn cache(action: CacheAction) -> anyhow::Result<()> {
    let mut tracked = Tracked::default();
    let cache = Cache::new(Cache::default_dir(&mut tracked)?);
    match action {
        CacheAction::Dir => println!("{}", cache.dir().display()),
        CacheAction::List => {
            let entries = cache.list()?;
            if entries.is_empty() {
                println!("pymodgen: the cache in {} is empty", cache.dir().display());
            }
            for e in entries {
                let sub = if e.submodules { " +submodules" } else { "" };
                println!("{:<30} {} {:>10} bytes{sub}", e.module, e.hash, e.bytes);
            }
        }
        CacheAction::Clear => {
            let n = cache.clear()?;
            let plural = if n == 1 { "" } else { "s" };
            println!("pymodgen: removed {n} cached manifest{plural} from {}", cache.dir().display());
        }
    }
    Ok(())
}
