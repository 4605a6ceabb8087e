//! The checker's state (findings, metadata collectors, depth) and the safety rules applied to
//! names, attributes, calls, imports and string constants. The traversal that calls these
//! hooks is in `walker.rs`.

use std::borrow::Cow;

use ruff_python_ast::{self as ast, Expr, ExprContext, name::Name};
use ruff_text_size::{Ranged, TextSize};

use super::limits::MAX_FINDINGS;

/// Longest string checked for naming a forbidden attribute exactly.
const MAX_NAME_LEN: usize = 40;
use super::lines::LineIndex;
use super::literals::format_traversal;
use super::names::nfkc;
use super::report::{Finding, ValidateOptions};
use super::rules::RuleId;
use super::tables::{
    dunder_name_allowed, dunder_store_allowed, forbidden_builtin, frame_attribute, guarded_builtin,
    io_attribute, io_keyword, is_dunder, system_attribute,
};

/// State of one validation pass.
pub struct Checker<'a> {
    pub(super) opts: &'a ValidateOptions,
    lines: &'a LineIndex<'a>,
    pub(super) findings: Vec<Finding>,
    truncated: bool,
    /// Current statement + expression nesting of the walk.
    pub(super) depth: u32,
    /// Set when the walk stopped descending at `MAX_AST_DEPTH`.
    pub(super) too_deep: bool,
    /// Enclosing class/function names, for qualified metadata names.
    pub(super) scope: Vec<String>,
    pub(super) functions: Vec<String>,
    pub(super) classes: Vec<String>,
    pub(super) imports: Vec<String>,
    pub(super) indicators: Vec<String>,
    /// Nesting of annotations being walked (string annotations are parsed and walked too).
    pub(super) annotation: u8,
    /// While walking a parsed string annotation, every finding is reported at the string.
    pub(super) pinned: Option<usize>,
    // The binding lists below are appended to (cheap) during the walk and only searched
    // when a dispatch argument is resolved, which is rare; `resolve_dispatch` indexes them.
    /// Names bound by `def`, `class` or `import` anywhere in the module.
    pub(super) defined: Vec<Name>,
    /// Names bound by `import` (module aliases and imported names).
    pub(super) imported: Vec<Name>,
    /// Names bound any other way (assignment, parameter, loop target, ...).
    pub(super) stored_names: Vec<Name>,
    /// Attribute names assigned anywhere (`self.fn = ...`).
    pub(super) stored_attrs: Vec<Name>,
    /// Function arguments of pandas method-name dispatch calls, resolved after the walk.
    pub(super) pending: Vec<Pending>,
    /// `_name` attributes (not the framework's own), allowed after the walk only if the
    /// module assigns them somewhere.
    pub(super) private_uses: Vec<(Name, usize)>,
}

/// A function argument of `apply`/`agg`/... whose safety depends on how the name is bound.
pub(super) struct Pending {
    /// The plain name, or the attribute of `self.attr`.
    pub(super) name: String,
    /// `self.attr` rather than a plain name.
    pub(super) self_attr: bool,
    /// The dispatching method (`agg`).
    pub(super) method: String,
    /// Where to report.
    pub(super) at: usize,
}

/// Byte offset of a `TextSize`.
pub(super) fn off(t: TextSize) -> usize {
    usize::from(t)
}

impl<'a> Checker<'a> {
    /// A fresh checker over one source text.
    pub(super) fn new(opts: &'a ValidateOptions, lines: &'a LineIndex<'a>) -> Self {
        Self {
            opts,
            lines,
            findings: Vec::new(),
            truncated: false,
            depth: 0,
            too_deep: false,
            scope: Vec::new(),
            functions: Vec::new(),
            classes: Vec::new(),
            imports: Vec::new(),
            indicators: Vec::new(),
            annotation: 0,
            pinned: None,
            defined: Vec::new(),
            imported: Vec::new(),
            stored_names: Vec::new(),
            stored_attrs: Vec::new(),
            pending: Vec::new(),
            private_uses: Vec::new(),
        }
    }

    /// Record a finding at a byte offset, with the severity the mode gives the rule.
    pub(super) fn report(&mut self, rule: RuleId, offset: usize, message: String) {
        if self.findings.len() >= MAX_FINDINGS {
            self.truncated = true;
            return;
        }
        let (line, col) = self.lines.locate(self.pinned.unwrap_or(offset));
        self.findings.push(Finding {
            rule: rule.as_str().to_owned(),
            line,
            col,
            message,
            severity: rule.severity(self.opts.strict),
        });
    }

    /// Sorted, de-duplicated findings (plus a note when some were dropped).
    pub(super) fn finish_findings(&mut self) -> Vec<Finding> {
        let mut findings = std::mem::take(&mut self.findings);
        findings.sort_by(|a, b| (a.line, a.col, &a.rule).cmp(&(b.line, b.col, &b.rule)));
        findings.dedup();
        if self.truncated {
            findings.push(Finding {
                rule: RuleId::FindingsTruncated.as_str().to_owned(),
                line: 1,
                col: 1,
                message: format!("only the first {MAX_FINDINGS} findings are reported"),
                severity: RuleId::FindingsTruncated.severity(self.opts.strict),
            });
        }
        findings
    }

    /// NFKC form of an identifier; reports look-alike characters when it changes.
    pub(super) fn norm<'s>(&mut self, name: &'s str, offset: usize) -> Cow<'s, str> {
        let n = nfkc(name);
        if let Cow::Owned(ref normalized) = n {
            self.report(
                RuleId::IdentifierNormalized,
                offset,
                format!("identifier '{name}' is read by Python as '{normalized}'"),
            );
        }
        n
    }

    /// A plain name. `called` is true for the function position of a call.
    pub(super) fn check_name(&mut self, id: &str, ctx: &ExprContext, at: usize, called: bool) {
        let n = self.norm(id, at);
        let n = n.as_ref();
        if matches!(ctx, ExprContext::Store) {
            self.stored_names.push(Name::new(n));
            if is_dunder(n) && !dunder_store_allowed(n) {
                self.report(
                    RuleId::DunderAccess,
                    at,
                    format!("assignment to dunder name '{n}' is not allowed"),
                );
            }
            return;
        }
        if forbidden_builtin(n) {
            if called {
                self.report(RuleId::ForbiddenCall, at, format!("call of '{n}' is not allowed"));
            } else {
                self.report(
                    RuleId::ForbiddenName,
                    at,
                    format!(
                        "reference to '{n}' is not allowed (aliasing or passing it hides a forbidden call)"
                    ),
                );
            }
        } else if guarded_builtin(n) && !called {
            self.report(
                RuleId::ForbiddenName,
                at,
                format!("'{n}' may only be called directly, not aliased or passed around"),
            );
        } else if is_dunder(n) && !dunder_name_allowed(n) {
            self.report(RuleId::DunderAccess, at, format!("use of dunder name '{n}' is not allowed"));
        }
    }

    /// An attribute name reached by `.name`, by a literal `getattr(x, "name")` or by an
    /// imported name. `receiver` is the object when known.
    pub(super) fn check_attr(&mut self, name: &str, receiver: Option<&Expr>, at: usize, how: &str) {
        let n = self.norm(name, at);
        let n = n.as_ref();
        if is_dunder(n) {
            self.report(RuleId::DunderAccess, at, format!("{how} dunder attribute '{n}' is not allowed"));
        } else if frame_attribute(n) {
            self.report(RuleId::FrameAccess, at, format!("{how} interpreter internal '{n}' is not allowed"));
        } else if n == "format" && receiver.is_some_and(is_lib_attribute) {
            self.report(RuleId::FileIo, at, "numpy.lib.format reads and writes .npy files".to_owned());
        } else if matches!(n, "format" | "format_map") && !receiver.is_some_and(is_str_literal) {
            self.report(
                RuleId::FormatTraversal,
                at,
                format!("'{n}' is only allowed on a string literal template"),
            );
        } else if system_attribute(n) {
            self.report(
                RuleId::ForbiddenAttribute,
                at,
                format!("{how} '{n}' is not allowed (reaches system modules or evaluates code)"),
            );
        } else if io_attribute(n) {
            self.report(RuleId::FileIo, at, format!("{how} '{n}' is not allowed (file or network I/O)"));
        } else if matches!(n, "eval" | "exec") {
            self.report(
                RuleId::ForbiddenCall,
                at,
                format!("{how} '{n}' is not allowed (evaluates strings as code)"),
            );
        } else if n.starts_with('_') && receiver.is_some_and(|r| self.is_module_chain(r)) {
            self.report(
                RuleId::ForbiddenAttribute,
                at,
                format!("{how} private module attribute '{n}' is not allowed"),
            );
        } else if n.starts_with('_') {
            self.private_attribute(n, at, how);
        }
    }

    /// Extra rules for a call, after its parts were walked.
    pub(super) fn check_call(&mut self, call: &ast::ExprCall) {
        let at = off(call.start());
        for kw in &call.arguments.keywords {
            if let Some(arg) = &kw.arg {
                let name = nfkc(arg.as_str());
                if io_keyword(&name) {
                    self.report(RuleId::FileIo, off(kw.start()), format!("keyword '{name}=' writes a file"));
                } else if name == "backend" {
                    self.report(
                        RuleId::ForbiddenAttribute,
                        off(kw.start()),
                        "keyword 'backend=' makes pandas import a module by name".to_owned(),
                    );
                }
            }
        }
        match call.func.as_ref() {
            Expr::Name(f) => {
                let name = nfkc(f.id.as_str());
                match name.as_ref() {
                    "getattr" | "setattr" | "delattr" | "hasattr" => {
                        self.check_dynamic_attr(&name, call, at);
                    }
                    "type"
                        if call.arguments.len() != 1
                            || call.arguments.args.iter().any(Expr::is_starred_expr) =>
                    {
                        self.report(
                            RuleId::ForbiddenCall,
                            at,
                            "type() may only be called with one argument (three arguments create classes)"
                                .to_owned(),
                        );
                    }
                    "print" => {
                        self.report(RuleId::PrintCall, at, "print() in a strategy slows backtests".to_owned())
                    }
                    _ => {}
                }
            }
            Expr::Attribute(a) => {
                let name = nfkc(a.attr.as_str());
                if name == "query" && !call.arguments.args.first().is_some_and(is_plain_query) {
                    self.report(
                        RuleId::ForbiddenCall,
                        at,
                        "DataFrame.query() needs a string literal without '@', '__' or backticks".to_owned(),
                    );
                }
                if name == "I" && matches!(a.value.as_ref(), Expr::Name(n) if n.id.as_str() == "self") {
                    let label = call.arguments.args.first().map_or_else(|| "<none>".to_owned(), dotted);
                    if !self.indicators.contains(&label) {
                        self.indicators.push(label);
                    }
                }
                self.check_dispatch(call, &name);
                if name == "to_string" && !call.arguments.args.is_empty() {
                    self.report(
                        RuleId::FileIo,
                        at,
                        "to_string() with a buffer argument writes a file".to_owned(),
                    );
                }
            }
            _ => {}
        }
    }

    fn check_dynamic_attr(&mut self, func: &str, call: &ast::ExprCall, at: usize) {
        let args = &call.arguments.args;
        let literal = match (args.get(1), call.arguments.keywords.is_empty()) {
            (Some(Expr::StringLiteral(s)), true) if !args.iter().any(Expr::is_starred_expr) => {
                Some(s.value.to_str())
            }
            _ => None,
        };
        match literal {
            Some(name) => self.check_attr(name, None, at, &format!("{func}() of")),
            None => self.report(
                RuleId::DynamicAttribute,
                at,
                format!("{func}() needs a string literal attribute name"),
            ),
        }
    }

    /// A string constant: format templates must not traverse dangerous attributes.
    pub(super) fn check_str(&mut self, s: &str, at: usize) {
        if s.len() <= MAX_NAME_LEN && !s.is_empty() && s != "__main__" {
            self.check_string_name(s, at);
        }
        if !s.contains('{') {
            return;
        }
        if let Some((field, name)) = format_traversal(s) {
            self.report(
                RuleId::FormatTraversal,
                at,
                format!("format field '{{{field}}}' traverses '{name}'"),
            );
        }
    }

    /// A name bound by `as`, a parameter, `except ... as`, `global` or a pattern: dunders are
    /// refused. `value` is true when the binding holds an arbitrary value (not an import).
    pub(super) fn check_binding(&mut self, name: &str, at: usize, value: bool) {
        let n = self.norm(name, at);
        if value {
            self.stored_names.push(Name::new(&n));
        }
        if is_dunder(&n) && !dunder_store_allowed(&n) {
            self.report(RuleId::DunderAccess, at, format!("binding dunder name '{n}' is not allowed"));
        }
    }

    /// `np`, `np.lib`, `typing`: a chain of attribute reads rooted at an imported name.
    fn is_module_chain(&self, e: &Expr) -> bool {
        let mut cur = e;
        for _ in 0..64 {
            match cur {
                Expr::Name(n) => return self.imported.contains(&n.id),
                Expr::Attribute(a) => cur = &a.value,
                _ => return false,
            }
        }
        false
    }

    /// Qualified name of a definition in the current scope.
    pub(super) fn qualified(&self, name: &str) -> String {
        if self.scope.is_empty() { name.to_owned() } else { format!("{}.{name}", self.scope.join(".")) }
    }
}

fn is_str_literal(e: &Expr) -> bool {
    matches!(e, Expr::StringLiteral(_))
}

fn is_lib_attribute(e: &Expr) -> bool {
    match e {
        Expr::Attribute(a) => nfkc(a.attr.as_str()) == "lib",
        Expr::Name(n) => nfkc(n.id.as_str()) == "lib",
        _ => false,
    }
}

fn is_plain_query(e: &Expr) -> bool {
    match e {
        Expr::StringLiteral(s) => {
            let s = s.value.to_str();
            !s.contains('@') && !s.contains("__") && !s.contains('`')
        }
        _ => false,
    }
}

/// `ta.SMA` for a dotted name, `<lambda>` for a lambda, `<expr>` parts otherwise.
pub(super) fn dotted(e: &Expr) -> String {
    if matches!(e, Expr::Lambda(_)) {
        return "<lambda>".to_owned();
    }
    let mut parts = Vec::new();
    let mut cur = e;
    loop {
        match cur {
            Expr::Attribute(a) => {
                parts.push(a.attr.as_str());
                cur = &a.value;
            }
            Expr::Name(n) => {
                parts.push(n.id.as_str());
                break;
            }
            _ => {
                parts.push("<expr>");
                break;
            }
        }
    }
    parts.reverse();
    parts.join(".")
}
