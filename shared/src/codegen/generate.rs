//! The entry point of the builtin provider: spec in, Python module out.

use super::CodegenError;
use super::calls::declared_call;
use super::emit::{Program, class_name, module};
use super::ir::{Node, Scope};
use super::parser::parse_rule;
use super::resolve::Resolver;
use crate::spec::StrategySpec;
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
    let mut indicators: Vec<_> = spec.indicators.iter().map(|(name, ind)| declared_call(name, ind)).collect();
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
