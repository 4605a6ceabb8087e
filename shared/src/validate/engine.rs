//! `validate`: pre-scan the limits, parse, walk every node with the safety rules, check the
//! structure, and assemble the report.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rustpython_parser::{Mode, ast, parse};

use super::checker::{Checker, off};
use super::dismantle::dismantle;
use super::limits::{LimitViolation, prescan};
use super::lines::{LineIndex, count_loc};
use super::report::{Metadata, Report, ValidateOptions};
use super::rules::RuleId;
use super::structure;

/// Longest syntax-error message kept (the parser quotes tokens, which can be huge).
const MAX_MESSAGE_CHARS: usize = 200;

/// Validate Python strategy code. Never panics; time and stack are bounded on any input
/// (the pre-scan refuses oversized and over-nested code before the parser sees it).
pub fn validate(code: &str, opts: &ValidateOptions) -> Report {
    let lines = LineIndex::new(code);
    let mut ck = Checker::new(opts, &lines);
    let mut metadata = Metadata { loc: count_loc(code), ..Metadata::default() };
    if let Err(v) = prescan(code) {
        let (rule, offset, message) = match v {
            LimitViolation::TooLarge { offset, message } => (RuleId::CodeTooLarge, offset, message),
            LimitViolation::TooDeep { offset, message } => (RuleId::NestingTooDeep, offset, message),
            LimitViolation::NulByte { offset } => {
                (RuleId::Syntax, offset, "source code cannot contain a NUL byte".to_owned())
            }
        };
        ck.report(rule, offset, message);
        return Report { findings: ck.finish_findings(), metadata };
    }
    // The parser is third-party code fed hostile input: a panic in it becomes a finding.
    let parsed = catch_unwind(AssertUnwindSafe(|| parse(code, Mode::Module, "<strategy>")));
    match parsed {
        Ok(Ok(ast::Mod::Module(module))) => {
            ck.body(&module.body);
            ck.resolve_dispatch();
            let too_deep = ck.too_deep;
            if !too_deep {
                structure::check(&mut ck, &module.body);
            }
            metadata.functions = std::mem::take(&mut ck.functions);
            metadata.classes = std::mem::take(&mut ck.classes);
            metadata.imports = std::mem::take(&mut ck.imports);
            metadata.indicators = std::mem::take(&mut ck.indicators);
            if too_deep {
                dismantle(module.body);
            }
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let message: String = e.error.to_string().chars().take(MAX_MESSAGE_CHARS).collect();
            ck.report(RuleId::Syntax, off(e.offset), message);
        }
        Err(_) => ck.report(RuleId::Syntax, 0, "the parser failed on this input".to_owned()),
    }
    Report { findings: ck.finish_findings(), metadata }
}
