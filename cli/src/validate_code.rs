//! `algoagent validate-code FILE...`: the validator, offline, on Python files.

use std::path::PathBuf;
use std::process::ExitCode;

use algoagent_validate::{ValidateOptions, validate};
use anyhow::Context;

/// Validates each file; exit 0 when every file is accepted, 1 when any is rejected, 2 when a
/// file cannot be read.
pub fn run(
    files: &[PathBuf],
    json: bool,
    lenient: bool,
    entrypoint: Option<String>,
) -> anyhow::Result<ExitCode> {
    let opts = ValidateOptions { entrypoint, required_params: Vec::new(), strict: !lenient };
    let mut all_accepted = true;
    let mut out = Vec::new();
    for file in files {
        let code = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let report = validate(&code, &opts);
        all_accepted &= report.accepted();
        if json {
            out.push(serde_json::json!({
                "file": file.display().to_string(),
                "status": if report.accepted() { "validated" } else { "rejected" },
                "safe": report.accepted(),
                "findings": report.findings,
                "metadata": report.metadata,
            }));
        } else {
            let verdict = if report.accepted() { "accepted" } else { "REJECTED" };
            println!("{}: {verdict} ({} lines)", file.display(), report.metadata.loc);
            for finding in &report.findings {
                println!("  {}", finding.render());
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(if all_accepted { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
