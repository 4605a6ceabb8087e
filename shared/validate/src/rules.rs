//! The rule catalogue: every stable rule id, the check group it belongs to (for the
//! prototype's `checks_passed`) and how its severity depends on strict mode.
//!
//! Safety rules are errors in both modes; structure and style rules are errors in strict
//! mode and warnings in lenient mode; advisory rules never refuse code.

use super::report::{CHECK_AST, CHECK_LIMITS, CHECK_SYNTAX, Severity};

/// What a rule protects, which decides its severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// Always an error.
    Safety,
    /// Error when strict, warning when lenient.
    Structure,
    /// Error when strict, warning when lenient.
    Style,
    /// A warning in both modes.
    Advice,
    /// Informational in both modes.
    Note,
}

macro_rules! rules {
    ($($variant:ident = $id:literal, $kind:ident, $check:expr, $doc:literal;)*) => {
        /// A stable rule id. The string form is what [`Finding::rule`](super::Finding) holds.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum RuleId {
            $(
                #[doc = $doc]
                $variant,
            )*
        }

        /// Every rule id string with its one-line description, in catalogue order.
        pub const RULES: &[(&str, &str)] = &[$(($id, $doc),)*];

        impl RuleId {
            /// The stable string id.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $id,)* }
            }

            /// The id for a string, if it names a rule.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($id => Some(Self::$variant),)* _ => None }
            }

            /// What the rule protects.
            pub fn kind(self) -> RuleKind {
                match self { $(Self::$variant => RuleKind::$kind,)* }
            }

            /// The [`CHECKS`](super::CHECKS) group the rule belongs to.
            pub fn check(self) -> &'static str {
                match self { $(Self::$variant => $check,)* }
            }
        }
    };
}

const CHECK_IMPORTS: &str = "No dangerous imports";
const CHECK_EVAL: &str = "No eval/exec usage";
const CHECK_SYSTEM: &str = "No system commands";
const CHECK_DUNDER: &str = "No dunder or frame access";
const CHECK_IO: &str = "No file or network I/O";
const CHECK_STRUCTURE: &str = "Strategy structure valid";

rules! {
    Syntax = "syntax", Safety, CHECK_SYNTAX,
        "The code does not parse (or contains a NUL byte).";
    EncodingDeclaration = "encoding-declaration", Safety, CHECK_SYNTAX,
        "A coding declaration naming a codec other than UTF-8 or ASCII, or one that contradicts a UTF-8 BOM: CPython would run other text than the validator read.";
    CodeTooLarge = "code-too-large", Safety, CHECK_LIMITS,
        "The code is over the byte or line limit.";
    NestingTooDeep = "nesting-too-deep", Safety, CHECK_LIMITS,
        "Brackets, indentation or expressions nest deeper than the limit.";
    LiteralTooLarge = "literal-too-large", Safety, CHECK_LIMITS,
        "An integer literal over 10**100, or a constant expression that builds a huge number or sequence.";
    ImportNotAllowed = "import-not-allowed", Safety, CHECK_IMPORTS,
        "An import outside the allowlist, a relative import, or a denied submodule.";
    StarImport = "star-import", Safety, CHECK_IMPORTS,
        "`from m import *` hides which names come into scope.";
    ForbiddenCall = "forbidden-call", Safety, CHECK_EVAL,
        "A call of a forbidden builtin (eval, exec, open, ...), three-argument type(), or pandas eval/query.";
    ForbiddenName = "forbidden-name", Safety, CHECK_EVAL,
        "A forbidden builtin referenced without calling it (aliasing), `__builtins__`, or a metaclass.";
    DynamicAttribute = "dynamic-attribute", Safety, CHECK_EVAL,
        "getattr/setattr/delattr/hasattr with a name that is not a string literal.";
    ForbiddenAttribute = "forbidden-attribute", Safety, CHECK_SYSTEM,
        "An attribute that reaches a system module or process control (`.os`, `.system`, `.ctypeslib`, ...).";
    DunderAccess = "dunder-access", Safety, CHECK_DUNDER,
        "Any double-underscore attribute or name (`__class__`, `__globals__`, ...).";
    FrameAccess = "frame-access", Safety, CHECK_DUNDER,
        "Frame, traceback, generator, coroutine or code-object internals (`gi_frame`, `f_globals`, ...).";
    FormatTraversal = "format-traversal", Safety, CHECK_DUNDER,
        "A format string that traverses dunder attributes, or str.format on a template that is not a literal.";
    FrameworkInternal = "framework-internal", Safety, CHECK_DUNDER,
        "A private attribute (`_name`) of backtesting.py's objects, or one the module never assigns: writing framework internals fakes a backtest's results.";
    EndlessLoop = "endless-loop", Safety, CHECK_AST,
        "A loop whose condition is constant-true (`while True:`) and whose body has no break, return or raise.";
    FileIo = "file-io", Safety, CHECK_IO,
        "pandas/numpy functions that read or write files or the network (`read_*`, `to_csv`, `np.load`, ...).";
    StructureStrategyCount = "structure-strategy-count", Structure, CHECK_STRUCTURE,
        "There must be exactly one concrete Strategy subclass.";
    StructureEntrypoint = "structure-entrypoint", Structure, CHECK_STRUCTURE,
        "The Strategy subclass is not named as the entrypoint.";
    StructureMethod = "structure-method", Structure, CHECK_STRUCTURE,
        "The Strategy subclass lacks `init` or `next`.";
    StructureParam = "structure-param", Structure, CHECK_STRUCTURE,
        "A required parameter is not a class attribute of the strategy.";
    StructureTopLevel = "structure-top-level", Structure, CHECK_STRUCTURE,
        "A top-level statement other than imports, constant assignments, definitions and docstrings.";
    GlobalStatement = "global-statement", Style, CHECK_AST,
        "`global` or `nonlocal` statements.";
    AsyncCode = "async-code", Style, CHECK_AST,
        "`async def`, `await`, `async for`/`with`: backtesting.py strategies are synchronous.";
    IdentifierNormalized = "identifier-normalized", Advice, CHECK_AST,
        "An identifier changed by NFKC normalisation (look-alike characters).";
    PrintCall = "print-call", Note, CHECK_AST,
        "print() in a strategy slows backtests and clutters logs.";
    FindingsTruncated = "findings-truncated", Note, CHECK_AST,
        "More findings than the report keeps; the rest were dropped.";
}

impl RuleId {
    /// The severity of a finding of this rule in the given mode.
    pub fn severity(self, strict: bool) -> Severity {
        match self.kind() {
            RuleKind::Safety => Severity::Error,
            RuleKind::Structure | RuleKind::Style if strict => Severity::Error,
            RuleKind::Structure | RuleKind::Style | RuleKind::Advice => Severity::Warning,
            RuleKind::Note => Severity::Info,
        }
    }
}
