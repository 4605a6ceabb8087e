//! Validator benchmark: microseconds per `validate` call on each strategy file, in process.
//!
//! ```text
//! cargo run --release -p algoagent-validate --example validator_bench [-- FILE_OR_DIR ... [--min-ms N] [--parse-only]]
//! ```
//!
//! `--parse-only` times `ruff_python_parser::parse_module` alone: the floor under the checks.
//!
//! Defaults to the legit corpus (`shared/validate/tests/validator_corpus/legit`). Each file is
//! validated in batches until `--min-ms` (default 300) have passed; the reported time is the
//! median batch mean. Compare with `python3 scripts/bench-validator-python.py` on the same
//! files (the prototype's `ast.parse` + `NodeVisitor` approach).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use algoagent_validate::{ValidateOptions, validate};

const BATCH: u32 = 20;

/// The allocator the coordinator, worker and CLI binaries use, so the numbers match them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut paths = Vec::new();
    let mut min = Duration::from_millis(300);
    let mut parse_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--parse-only" {
            parse_only = true;
        } else if arg == "--min-ms" {
            let ms = args.next().and_then(|v| v.parse().ok()).unwrap_or(300);
            min = Duration::from_millis(ms);
        } else {
            paths.push(PathBuf::from(arg));
        }
    }
    if paths.is_empty() {
        paths.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validator_corpus/legit"));
    }
    let files = collect(&paths);
    if files.is_empty() {
        eprintln!("no .py files found");
        std::process::exit(2);
    }
    let opts = ValidateOptions::default();
    println!("{:<32} {:>6} {:>8} {:>12} {:>14}", "file", "lines", "bytes", "us/file", "us/200 lines");
    let mut per_file = Vec::new();
    let mut per_200 = Vec::new();
    let mut total_us = 0.0;
    let mut total_lines = 0usize;
    for path in &files {
        let code = match std::fs::read_to_string(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                continue;
            }
        };
        let lines = code.lines().count().max(1);
        let us = if parse_only { time_parse(&code, min) } else { time_one(&code, &opts, min) };
        let norm = us * 200.0 / lines as f64;
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        println!("{name:<32} {lines:>6} {:>8} {us:>12.1} {norm:>14.1}", code.len());
        per_file.push(us);
        per_200.push(norm);
        total_us += us;
        total_lines += lines;
    }
    println!();
    println!("files: {}", per_file.len());
    println!("mean us/file: {:.1}", mean(&per_file));
    println!("median us/file: {:.1}", median(&mut per_file.clone()));
    println!(
        "us per 200 lines (total time / total lines * 200): {:.1}",
        total_us * 200.0 / total_lines.max(1) as f64
    );
    println!("median us per 200 lines: {:.1}", median(&mut per_200));
}

fn collect(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            if let Ok(entries) = std::fs::read_dir(p) {
                files.extend(
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|f| f.extension().is_some_and(|e| e == "py")),
                );
            }
        } else {
            files.push(p.clone());
        }
    }
    files.sort();
    files
}

/// Median over batches of the mean microseconds per call.
fn time_one(code: &str, opts: &ValidateOptions, min: Duration) -> f64 {
    for _ in 0..BATCH {
        std::hint::black_box(validate(std::hint::black_box(code), opts));
    }
    let mut batches = Vec::new();
    let start = Instant::now();
    while start.elapsed() < min || batches.len() < 5 {
        let t = Instant::now();
        for _ in 0..BATCH {
            std::hint::black_box(validate(std::hint::black_box(code), opts));
        }
        batches.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
    }
    median(&mut batches)
}

/// Like [`time_one`] for the parser alone.
fn time_parse(code: &str, min: Duration) -> f64 {
    let parse = || {
        let tree = ruff_python_parser::parse_module(std::hint::black_box(code));
        std::hint::black_box(tree.is_ok());
    };
    for _ in 0..BATCH {
        parse();
    }
    let mut batches = Vec::new();
    let start = Instant::now();
    while start.elapsed() < min || batches.len() < 5 {
        let t = Instant::now();
        for _ in 0..BATCH {
            parse();
        }
        batches.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
    }
    median(&mut batches)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
