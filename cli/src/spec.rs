//! Offline commands that need no coordinator: `schema export|show`, `spec validate` and
//! `generate`. They run the same validation and code generation as the services, so a spec
//! that passes here is accepted by `submit`.
//!
//! Exit codes follow the crate's: 0 when everything is valid, 1 when a spec is invalid,
//! 2 on a usage or I/O error (returned as `Err`, which `main` maps to 2).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use algoagent_spec::codegen::generate as generate_code;
use algoagent_spec::{
    FieldError, RuleMode, SCHEMA_NAMES, SCHEMA_VERSION, SpecErrors, StrategySpec, limits::MAX_DOCUMENT_BYTES,
    schemas,
};
use anyhow::{Context, bail};
use clap::Subcommand;
use clap::builder::PossibleValuesParser;
use serde_json::{Value, json};

/// `algoagent schema ...`.
#[derive(Debug, Subcommand)]
pub enum SchemaAction {
    /// Write one `<Name>.schema.json` per schema into DIR (created if missing).
    Export {
        /// Target directory.
        dir: PathBuf,
    },
    /// Print one schema as JSON.
    Show {
        /// StrategyDefinition, BacktestConfig or JobEnvelope.
        #[arg(value_parser = PossibleValuesParser::new(SCHEMA_NAMES), ignore_case = true)]
        name: String,
    },
}

/// `algoagent spec ...`.
#[derive(Debug, Subcommand)]
pub enum SpecAction {
    /// Check spec files; exit 0 when all are valid, 1 when any is invalid, 2 when one
    /// cannot be read.
    Validate {
        /// Spec files (JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a JSON array with one validate-schema result per file.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `schema export` or `schema show`.
pub fn schema(action: SchemaAction) -> anyhow::Result<ExitCode> {
    match action {
        SchemaAction::Export { dir } => {
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, schema) in schemas() {
                let path = dir.join(format!("{name}.schema.json"));
                fs::write(&path, pretty(&schema)?).with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
        SchemaAction::Show { name } => {
            let Some((_, schema)) = schemas().into_iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) else {
                bail!("unknown schema '{name}'; known: {}", SCHEMA_NAMES.join(", "));
            };
            print!("{}", pretty(&schema)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `spec validate`.
pub fn spec(action: SpecAction) -> anyhow::Result<ExitCode> {
    let SpecAction::Validate { files, json } = action;
    let mut results = Vec::new();
    let (mut invalid, mut unreadable) = (false, false);
    for file in &files {
        let outcome = read_spec(file).map(|bytes| check_spec(&bytes));
        match &outcome {
            Ok(Ok((_, None, _))) => {}
            Ok(Ok((_, Some(_), _)) | Err(_)) => invalid = true,
            Err(_) => unreadable = true,
        }
        if json {
            results.push(result_json(file, &outcome));
        } else {
            print_finding(file, &outcome);
        }
    }
    if json {
        print!("{}", pretty(&Value::Array(results))?);
    }
    Ok(if unreadable {
        ExitCode::from(2)
    } else if invalid {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A spec checked as the API checks it: the schema (the prototype's validate-schema), then
/// whether the built-in rule compiler can compile it (`Some` errors when it cannot).
type Checked = Result<(StrategySpec, Option<SpecErrors>, Vec<FieldError>), SpecErrors>;

fn check_spec(bytes: &[u8]) -> Checked {
    let (spec, notes) = StrategySpec::parse_json_noted(bytes, RuleMode::Schema)?;
    let compile_errors = spec.compile_check().err();
    Ok((spec, compile_errors, notes))
}

/// Runs `generate`: prints the builtin generator's module for a spec file.
pub fn generate(path: &Path) -> anyhow::Result<ExitCode> {
    let bytes = read_spec(path)?;
    let spec = match StrategySpec::parse_json(&bytes) {
        Ok(spec) => spec,
        Err(errors) => {
            eprintln!("{} is invalid:", path.display());
            eprint_errors(&errors);
            return Ok(ExitCode::from(1));
        }
    };
    match generate_code(&spec) {
        Ok(generated) => {
            print!("{}", generated.code);
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("{}: cannot generate code: {err}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// Reads a spec file, at most one byte past the document limit (so an oversized file is
/// reported by validation rather than read whole).
fn read_spec(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_DOCUMENT_BYTES).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}

fn print_finding(file: &Path, outcome: &anyhow::Result<Checked>) {
    let list = |items: &[FieldError]| {
        for e in items {
            println!("  {}: {} [{}]", e.path(), e.msg, e.kind);
        }
    };
    match outcome {
        Ok(Ok((_, Some(errors), notes))) => {
            println!(
                "not compilable by the rule compiler  {} (schema-valid; {} errors)",
                file.display(),
                errors.errors().len()
            );
            list(errors.errors());
            list(notes);
        }
        Ok(Ok((spec, None, notes))) => {
            println!(
                "ok       {} ({}: {} indicators, {} entry and {} exit rules)",
                file.display(),
                spec.name,
                spec.indicators.len(),
                spec.entry_rules.len(),
                spec.exit_rules.len()
            );
            list(notes);
        }
        Ok(Err(errors)) => {
            println!("invalid  {} ({} errors)", file.display(), errors.errors().len());
            list(errors.errors());
        }
        Err(err) => eprintln!("error    {err:#}"),
    }
}

fn eprint_errors(errors: &SpecErrors) {
    for e in errors.errors() {
        eprintln!("  {}: {} [{}]", e.path(), e.msg, e.kind);
    }
}

/// The prototype's validate-schema response for one file, plus `file`.
fn result_json(file: &Path, outcome: &anyhow::Result<Checked>) -> Value {
    let file = file.display().to_string();
    match outcome {
        Ok(Ok((spec, compile_errors, notes))) => json!({
            "file": file,
            "status": "valid",
            "message": "Strategy schema is valid",
            "validated_data": spec,
            "schema_version": SCHEMA_VERSION,
            "compilable": compile_errors.is_none(),
            "compile_errors": compile_errors.as_ref().map(|e| e.errors().to_vec()).unwrap_or_default(),
            "warnings": notes,
        }),
        Ok(Err(errors)) => json!({
            "file": file,
            "status": "invalid",
            "message": "Strategy schema validation failed",
            "errors": errors,
            "schema_version": SCHEMA_VERSION,
        }),
        Err(err) => json!({
            "file": file,
            "status": "error",
            "message": format!("{err:#}"),
            "errors": [{ "loc": [], "msg": format!("{err:#}"), "type": "io" }],
            "schema_version": SCHEMA_VERSION,
        }),
    }
}

fn pretty(value: &Value) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value).context("encoding JSON")?;
    text.push('\n');
    Ok(text)
}
