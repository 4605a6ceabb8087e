//! Prompts: Markdown files in `prompts/` (versioned and reviewed like code), compiled in
//! with `include_str!` and filled by [`render`] with `{{placeholder}}` substitution.

use super::{FixRequest, GenerateRequest};
use algoagent_spec::StrategySpec;
use algoagent_spec::codegen::class_name;

/// The system prompt: rules of the sandbox and the answer format.
pub const SYSTEM: &str = include_str!("../../../prompts/system.md");
/// First generation; placeholders `entrypoint`, `spec_json`.
pub const GENERATE: &str = include_str!("../../../prompts/generate.md");
/// Repair; placeholders `attempt`, `entrypoint`, `spec_json`, `code`, `failure`, `similar`.
pub const FIX: &str = include_str!("../../../prompts/fix.md");
/// Follow-up after an unusable answer; placeholder `error`.
pub const RETRY: &str = include_str!("../../../prompts/retry.md");

/// How many similar past failures a fix prompt shows.
pub const MAX_SIMILAR: usize = 3;
/// Longest quoted failure text, in characters (tracebacks can be long).
const MAX_FAILURE: usize = 6_000;
/// Longest past error or fix shown per similar failure, in characters.
const MAX_PAST: usize = 4_000;

/// Replaces each `{{name}}` in `template` with its value from `values`, in one pass (a
/// value containing `{{...}}` is not expanded again); unknown placeholders stay as they are.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| Some((end, values.iter().find(|(k, _)| *k == &after[..end])?)))
        {
            Some((end, (_, value))) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The class name a generated strategy must use (the same as the builtin compiler's).
pub fn entrypoint_for(spec: &StrategySpec) -> String {
    class_name(spec.name.as_str())
}

/// The user prompt of a first generation.
pub fn generate_prompt(req: &GenerateRequest) -> String {
    render(GENERATE, &[("entrypoint", &entrypoint_for(&req.spec)), ("spec_json", &spec_block(&req.spec))])
}

/// The user prompt of a repair: the code, why it failed, and up to [`MAX_SIMILAR`] similar
/// past failures with their passing fixes, best first.
pub fn fix_prompt(req: &FixRequest) -> String {
    let similar = if req.similar.is_empty() {
        "None recorded yet.".to_owned()
    } else {
        req.similar
            .iter()
            .take(MAX_SIMILAR)
            .enumerate()
            .map(|(i, s)| {
                let fix = match &s.fix_code {
                    Some(code) => {
                        format!("The fix that passed:\n\n{}", fence("python", clip(code, MAX_PAST)))
                    }
                    None => "No passing fix was recorded for it.".to_owned(),
                };
                format!(
                    "### Past failure {} (similarity {:.2})\n\n{}\n{fix}\n",
                    i + 1,
                    s.score,
                    fence("text", clip(&s.failure, MAX_PAST))
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    render(
        FIX,
        &[
            ("attempt", &req.attempt.to_string()),
            ("entrypoint", &req.entrypoint),
            ("spec_json", &spec_block(&req.spec)),
            ("code", &fence("python", &req.code)),
            ("failure", &fence("text", clip(&req.failure, MAX_FAILURE))),
            ("similar", &similar),
        ],
    )
}

/// The follow-up prompt after an unusable answer, quoting why it was refused.
pub fn retry_prompt(error: &str) -> String {
    render(RETRY, &[("error", error)])
}

fn spec_block(spec: &StrategySpec) -> String {
    // A spec always serializes; the fallback only keeps this function total.
    let json = serde_json::to_string_pretty(spec).unwrap_or_else(|e| format!("(spec not serializable: {e})"));
    fence("json", &json)
}

/// A fenced block whose fence is longer than any backtick run inside `text`.
fn fence(lang: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest.max(2) + 1);
    format!("{ticks}{lang}\n{}\n{ticks}\n", text.trim_end())
}

fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_known_placeholders_once() {
        let out = render("a {{x}} b {{y}} {{unknown}} {{", &[("x", "{{y}}"), ("y", "2")]);
        assert_eq!(out, "a {{y}} b 2 {{unknown}} {{");
    }

    #[test]
    fn every_placeholder_of_the_templates_is_filled() {
        for (template, keys) in [
            (GENERATE, &["entrypoint", "spec_json"][..]),
            (FIX, &["attempt", "entrypoint", "spec_json", "code", "failure", "similar"][..]),
            (RETRY, &["error"][..]),
        ] {
            let values: Vec<(&str, &str)> = keys.iter().map(|k| (*k, "v")).collect();
            assert!(!render(template, &values).contains("{{"), "{template}");
        }
    }

    #[test]
    fn fences_outgrow_backticks_in_the_text() {
        assert_eq!(fence("py", "a ``` b"), "````py\na ``` b\n````\n");
    }
}
