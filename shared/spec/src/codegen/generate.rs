//! The entry point of the builtin provider: spec in, Python module out.

use super::CodegenError;
use super::calls::declared_call;
use super::emit::{Program, class_name, module};
use super::ir::{Node, Scope};
use super::parser::parse_rule;
use super::resolve::Resolver;
use crate::StrategySpec;
use serde::{Deserialize, Serialize};

/// A generated strategy module and the class the sandbox should run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedCode {
    /// The complete Python module.
    pub code: String,
    /// Name of the `backtesting.Strategy` subclass in `code`.
    pub entrypoint: String,
}

/// Compiles a spec into a backtesting.py strategy module.
///
/// Deterministic: the same spec yields the same bytes. The spec is re-validated first, so
/// specs deserialized from storage or built in code cannot inject text into the output.
pub fn generate(spec: &StrategySpec) -> Result<GeneratedCode, CodegenError> {
    let spec = spec.validate()?;
    let scope = Scope::from_spec(&spec);
    let mut resolver = Resolver::new(&scope);
    let mut compile = |field: &'static str, rules: &[String]| -> Result<Vec<(String, Node)>, CodegenError> {
        rules
            .iter()
            .enumerate()
            .map(|(index, src)| {
                let expr = parse_rule(src).map_err(|source| CodegenError::Rule { field, index, source })?;
                let node =
                    resolver.rule(&expr).map_err(|source| CodegenError::Rule { field, index, source })?;
                Ok((expr.to_string(), node))
            })
            .collect()
    };
    let entry = compile("entry_rules", &spec.entry_rules)?;
    let exit = compile("exit_rules", &spec.exit_rules)?;
    let mut indicators: Vec<_> = dependency_order(&spec)
        .into_iter()
        .map(|name| declared_call(name, &spec.indicators[name], &spec.indicators))
        .collect();
    indicators.extend(resolver.hidden.iter().cloned());
    let entrypoint = class_name(spec.name.as_str());
    let code = module(&Program {
        spec: &spec,
        class_name: &entrypoint,
        indicators,
        entry,
        exit,
        max_lookback: resolver.max_lookback,
        uses_crossover: resolver.uses_crossover,
    });
    Ok(GeneratedCode { code, entrypoint })
}

/// Declared indicator names in name order, except that an indicator computed on another
/// comes after it (validation has refused cycles, so this always completes).
fn dependency_order(spec: &StrategySpec) -> Vec<&str> {
    let mut done: Vec<&str> = Vec::with_capacity(spec.indicators.len());
    while done.len() < spec.indicators.len() {
        let before = done.len();
        for (name, ind) in &spec.indicators {
            let ready = match ind.source.as_ref().and_then(crate::SeriesSource::indicator) {
                Some((dep, _)) => done.contains(&dep) || !spec.indicators.contains_key(dep),
                None => true,
            };
            if ready && !done.contains(&name.as_str()) {
                done.push(name);
            }
        }
        if done.len() == before {
            // Unreachable for a validated spec; emit the rest in name order rather than loop.
            done.extend(
                spec.indicators.keys().map(String::as_str).filter(|n| !done.contains(n)).collect::<Vec<_>>(),
            );
        }
    }
    done
}
