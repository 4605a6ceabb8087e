//! `docs/SPEC.md` and the exported JSON Schema stay true to the code: every indicator has a
//! row naming each of its fields with its default and each output (the bare one marked),
//! every rule function is documented, and the schema lists every type with its outputs.

use algoagent_spec::codegen::Func;
use algoagent_spec::{IndicatorField, IndicatorKind, schemas};

fn spec_md() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SPEC.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The cells of the indicator table row for `kind`, if there is one.
fn row(doc: &str, kind: IndicatorKind) -> Option<Vec<&str>> {
    let start = format!("| `{}` |", kind.name());
    doc.lines().find(|l| l.starts_with(&start)).map(|l| l.split(" | ").collect())
}

fn default_text(kind: IndicatorKind, field: IndicatorField) -> String {
    if field.is_real() {
        format!("{:?}", kind.default_real(field))
    } else {
        kind.default_window(field).to_string()
    }
}

#[test]
fn every_indicator_has_a_row_with_its_fields_defaults_and_outputs() {
    let doc = spec_md();
    let mut problems = Vec::new();
    for kind in IndicatorKind::ALL {
        let Some(cells) = row(&doc, kind) else {
            problems.push(format!("{kind}: no row in the indicator table"));
            continue;
        };
        let (fields, outputs) = (cells[1], cells[2]);
        for field in kind.fields() {
            let key = format!("`{}`", field.key());
            if !fields.contains(&key) {
                problems.push(format!("{kind}: field {key} missing from '{fields}'"));
            } else if *field != IndicatorField::Source {
                let with_default = format!("{key} ({})", default_text(kind, *field));
                if !fields.contains(&with_default) {
                    problems.push(format!("{kind}: '{with_default}' missing from '{fields}'"));
                }
            }
        }
        if kind.fields().is_empty() && fields.trim() != "–" {
            problems.push(format!("{kind}: no fields, but the row says '{fields}'"));
        }
        if kind.outputs().is_empty() {
            if outputs.trim() != "–" {
                problems.push(format!("{kind}: single output, but the row says '{outputs}'"));
            }
        } else {
            let mut at = 0;
            for (i, output) in kind.outputs().iter().enumerate() {
                let mark = if i == kind.primary_output() {
                    format!("`{output}` (bare)")
                } else {
                    format!("`{output}`")
                };
                match outputs[at..].find(&mark) {
                    Some(p) => at += p + mark.len(),
                    None => problems.push(format!("{kind}: '{mark}' missing or out of order in '{outputs}'")),
                }
            }
        }
    }
    assert!(problems.is_empty(), "docs/SPEC.md is out of date:\n{}", problems.join("\n"));
}

#[test]
fn every_rule_function_is_documented() {
    let doc = spec_md();
    let missing: Vec<&str> = Func::names().filter(|n| !doc.contains(&format!("`{n}("))).collect();
    assert!(missing.is_empty(), "functions missing from docs/SPEC.md: {missing:?}");
}

#[test]
fn the_exported_schema_lists_every_indicator_type_and_its_outputs() {
    let (_, strategy) = schemas().into_iter().find(|(n, _)| *n == "StrategyDefinition").expect("exported");
    let text = strategy.to_string();
    for kind in IndicatorKind::ALL {
        assert!(
            text.contains(&format!("\"const\":\"{}\"", kind.name())),
            "{kind} has no per-type rule in the schema"
        );
        if !kind.outputs().is_empty() {
            let outputs = serde_json::json!(kind.outputs()).to_string();
            assert!(
                text.contains(&format!("\"enum\":{outputs}")),
                "{kind}: outputs {outputs} not in the schema"
            );
        }
    }
}
