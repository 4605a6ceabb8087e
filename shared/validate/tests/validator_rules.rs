//! Behaviour of the validator's public API: report shape and summary, strict versus lenient
//! severities, structure rules with an entrypoint and required parameters, metadata, and
//! constructs that must stay accepted (no false positives on everyday strategy code).

use algoagent_validate::{CHECKS, RULES, RuleId, Severity, ValidateOptions, validate};

const SMA_CROSS: &str = include_str!("validator_corpus/legit/01_sma_cross.py");

fn strict() -> ValidateOptions {
    ValidateOptions::default()
}

fn lenient() -> ValidateOptions {
    ValidateOptions { strict: false, ..ValidateOptions::default() }
}

fn rules_of(code: &str, opts: &ValidateOptions) -> Vec<String> {
    validate(code, opts).findings.into_iter().map(|f| f.rule).collect()
}

/// A minimal valid strategy with `body` added to `next`.
fn in_next(body: &str) -> String {
    format!(
        "from backtesting import Strategy\nimport numpy as np\nimport pandas as pd\n\n\nclass S(Strategy):\n    def init(self):\n        pass\n\n    def next(self):\n        {body}\n"
    )
}

#[test]
fn the_default_options_are_strict_without_entrypoint_or_parameters() {
    let o = ValidateOptions::default();
    assert!(o.strict);
    assert!(o.entrypoint.is_none());
    assert!(o.required_params.is_empty());
}

#[test]
fn a_clean_strategy_is_accepted_with_metadata_and_every_check_passed() {
    let report = validate(SMA_CROSS, &strict());
    assert!(report.accepted(), "{}", report.summary());
    assert_eq!(report.summary(), "no errors");
    assert_eq!(report.metadata.classes, vec!["SmaCross"]);
    assert_eq!(report.metadata.functions, vec!["SmaCross.init", "SmaCross.next"]);
    assert_eq!(report.metadata.imports, vec!["backtesting", "backtesting.lib", "backtesting.test"]);
    assert_eq!(report.metadata.indicators, vec!["SMA"]);
    assert_eq!(report.metadata.loc, 18);
    assert_eq!(report.checks_passed(), CHECKS.to_vec());
}

#[test]
fn structure_findings_do_not_fail_the_ast_analysis_when_only_safety_is_asked() {
    // The prototype guide's harmless sample: not a strategy (no Strategy subclass), not
    // dangerous; its safety list includes the AST analysis, the full list does not.
    let report = validate("class MyStrategy:\n    def on_bar(self):\n        pass\n", &strict());
    assert!(!report.accepted());
    assert!(!report.checks_passed().contains(&"AST analysis passed"));
    assert!(!report.checks_passed().contains(&"Strategy structure valid"));
    let safety = report.safety_checks_passed();
    assert!(safety.contains(&"AST analysis passed"), "{safety:?}");
    assert!(!safety.contains(&"Strategy structure valid"), "{safety:?}");

    // A safety error, or a parse that failed, never lists it.
    let dangerous = validate("import os\n", &strict());
    assert!(!dangerous.safety_checks_passed().contains(&"AST analysis passed"));
    let broken = validate("class S(\n", &strict());
    assert_eq!(broken.safety_checks_passed(), vec!["Size and nesting within limits"]);
}

#[test]
fn the_summary_names_the_first_error_with_position_and_counts_the_rest() {
    let code = "\"\"\"doc\"\"\"\n\nimport os\nimport sys\n";
    let report = validate(code, &strict());
    assert!(!report.accepted());
    let summary = report.summary();
    assert!(
        summary.starts_with("line 3, col 8: [import-not-allowed] import of 'os' is not allowed (+"),
        "{summary}"
    );
}

#[test]
fn findings_serialise_with_lowercase_severity_and_map_to_prototype_levels() {
    let report = validate("import os\n", &strict());
    let json = serde_json::to_value(&report).expect("serialise");
    let first = json["findings"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["rule"] == "import-not-allowed"))
        .expect("an import finding");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["line"], 1);
    assert_eq!(first["col"], 8);
    assert!(json["metadata"]["imports"].is_array());
    let back: algoagent_validate::Report = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, report);
    assert_eq!(Severity::Error.prototype_level(), "high");
    assert_eq!(Severity::Warning.prototype_level(), "medium");
    assert_eq!(Severity::Info.prototype_level(), "low");
}

#[test]
fn a_syntax_error_is_one_finding_with_its_position() {
    let report = validate("class S(Strategy):\n    def next(self)\n        pass\n", &strict());
    let syntax: Vec<_> = report.findings.iter().filter(|f| f.rule == "syntax").collect();
    assert_eq!(syntax.len(), 1, "{:?}", report.findings);
    assert_eq!(syntax[0].line, 2);
    assert_eq!(report.checks_passed(), vec!["Size and nesting within limits"]);
}

#[test]
fn syntax_newer_than_the_sandbox_python_is_refused_and_the_tree_still_checked() {
    // Python 3.12 type aliases and PEP 701 f-strings parse with ruff but not on the sandbox's
    // Python 3.11: refused as syntax, with the safety rules still applied to the tree.
    for (code, also) in [
        ("type Alias = int\nx = eval('1')\n", Some("forbidden-call")),
        ("x = {'a': 1}\ny = f\"{x[\"a\"]}\"\n", None),
        ("def f[T](x: T) -> T:\n    return x\n", None),
    ] {
        let report = validate(&format!("{SMA_CROSS}\n{code}"), &strict());
        let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
        let syntax = report.findings.iter().find(|f| f.rule == "syntax").expect("a syntax finding");
        assert!(syntax.message.contains("3.11"), "{}", syntax.message);
        if let Some(rule) = also {
            assert!(rules.contains(&rule), "{rules:?}");
        }
    }
    // The same constructs written for 3.11 are fine.
    let report = validate(&format!("{SMA_CROSS}\nx = {{'a': 1}}\ny = f\"{{x['a']}}\"\n"), &strict());
    assert!(!report.findings.iter().any(|f| f.rule == "syntax"), "{:?}", report.findings);
}

#[test]
fn lenient_mode_turns_structure_and_style_findings_into_warnings_but_not_safety_ones() {
    let code = "import numpy as np\n\nx = np.zeros(3)\nprint(x)\n";
    let strict_report = validate(code, &strict());
    assert!(!strict_report.accepted());
    let lenient_report = validate(code, &lenient());
    assert!(lenient_report.accepted(), "{}", lenient_report.summary());
    assert!(
        lenient_report
            .findings
            .iter()
            .any(|f| f.rule == "structure-top-level" && f.severity == Severity::Warning)
    );
    assert!(lenient_report.summary().starts_with("no errors, "));

    let unsafe_code = format!("{SMA_CROSS}\nimport os\n");
    assert!(!validate(&unsafe_code, &lenient()).accepted());
}

#[test]
fn the_entrypoint_must_name_the_strategy_class() {
    let opts = ValidateOptions { entrypoint: Some("Momentum".to_owned()), ..strict() };
    assert_eq!(rules_of(SMA_CROSS, &opts), vec!["structure-entrypoint"]);
    let opts = ValidateOptions { entrypoint: Some("SmaCross".to_owned()), ..strict() };
    assert!(validate(SMA_CROSS, &opts).accepted());
}

#[test]
fn required_parameters_must_be_class_attributes() {
    let opts = ValidateOptions {
        required_params: vec!["n1".to_owned(), "n2".to_owned(), "stop".to_owned()],
        ..strict()
    };
    let report = validate(SMA_CROSS, &opts);
    let params: Vec<_> =
        report.findings.iter().filter(|f| f.rule == "structure-param").map(|f| f.message.as_str()).collect();
    assert_eq!(params.len(), 1);
    assert!(params[0].contains("'stop'"), "{params:?}");
}

#[test]
fn a_strategy_needs_init_and_next_unless_a_lib_base_provides_them() {
    let code = "from backtesting import Strategy\n\nclass S(Strategy):\n    def init(self):\n        pass\n";
    assert_eq!(rules_of(code, &strict()), vec!["structure-method"]);
    let code = "from backtesting.lib import SignalStrategy\n\nclass S(SignalStrategy):\n    def init(self):\n        super().init()\n";
    assert!(validate(code, &strict()).accepted());
}

#[test]
fn zero_or_two_concrete_strategies_are_refused_but_a_base_and_its_leaf_are_one() {
    assert_eq!(rules_of("import math\n", &strict()), vec!["structure-strategy-count"]);
    let code = "import backtesting\n\nclass A(backtesting.Strategy):\n    def init(self): pass\n    def next(self): pass\n\nclass B(backtesting.Strategy):\n    def init(self): pass\n    def next(self): pass\n";
    assert_eq!(rules_of(code, &strict()), vec!["structure-strategy-count"]);
    let code = "import backtesting\n\nclass A(backtesting.Strategy):\n    def init(self): pass\n\nclass B(A):\n    def next(self): pass\n";
    assert!(validate(code, &strict()).accepted(), "{}", validate(code, &strict()).summary());
}

#[test]
fn top_level_code_other_than_constants_and_definitions_is_refused() {
    let ok = format!(
        "{SMA_CROSS}\n__all__ = ['SmaCross']\nWINDOWS = (10, 20)\nRATIO = 2 ** 0.5\nNAN = float\nLIMITS: dict = {{'a': -1}}\n"
    );
    let report = validate(&ok, &strict());
    assert!(report.accepted(), "{}", report.summary());
    for bad in [
        "x = compute()\n",
        "for i in range(3):\n    pass\n",
        "if __name__ == '__main__':\n    pass\n",
        "f = lambda: 0\n",
        "X = [i for i in range(3)]\n",
    ] {
        let code = format!("{SMA_CROSS}\n{bad}");
        assert!(rules_of(&code, &strict()).contains(&"structure-top-level".to_owned()), "{bad}");
    }
}

#[test]
fn every_rule_id_round_trips_and_belongs_to_a_check_group() {
    for (id, doc) in RULES {
        let rule = RuleId::parse(id).expect("known id");
        assert_eq!(rule.as_str(), *id);
        assert!(CHECKS.contains(&rule.check()));
        assert!(!doc.is_empty());
    }
}

#[test]
fn everyday_strategy_code_is_not_flagged() {
    for body in [
        "self.buy(size=0.5, sl=self.data.Close[-1] * 0.9)",
        "label = '{:.2f} {}'.format(self.equity, self.data.index[-1])",
        "label = f'{self.equity:.2f} {self.data.Close[-1]!r:>10}'",
        "text = '%s: %d' % ('a', 1)",
        "x = getattr(self, 'n1', 10)",
        "ok = hasattr(self.data, 'Volume') and isinstance(self.position.size, (int, float))",
        "kind = type(self.data.Close[-1])",
        "arr = np.asarray(self.data.Close).astype(float).to_numpy() if False else None",
        "df = self.data.df.copy(); rows = df.query('Close > Open'); d = df.to_dict(); n = df.to_numpy()",
        "s = pd.Series(self.data.Close).rolling(3).apply(lambda w: w.mean(), raw=True)",
        "big = 2 ** 64 + 10 ** 30; pad = '-' * 80; zeros = [0] * 1000",
        "self.log = []; self.log.append(len(self.trades))",
        "when = pd.Timestamp(self.data.index[-1]).to_pydatetime()",
        "nums = sorted({k: v for k, v in zip('ab', (1, 2))}.items(), key=lambda kv: kv[1])",
        "match self.position.size:\n            case 0:\n                pass\n            case _:\n                pass",
    ] {
        let report = validate(&in_next(body), &strict());
        assert!(report.accepted(), "{body}\n=> {}", report.issues().join("\n"));
    }
}

#[test]
fn identifiers_are_nfkc_normalised_before_checking() {
    let report = validate(&in_next("x = ｅｖａｌ('1')"), &strict());
    assert!(!report.accepted());
    let rules: Vec<_> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    assert!(rules.contains(&"forbidden-call"), "{rules:?}");
    assert!(rules.contains(&"identifier-normalized"), "{rules:?}");
}

#[test]
fn string_annotations_are_checked_as_code() {
    let code = format!("{SMA_CROSS}\n\ndef helper(x: 'getattr(x, name)') -> \"pd.Series\":\n    return x\n");
    assert_eq!(rules_of(&code, &strict()), vec!["dynamic-attribute"]);
    let code = format!("{SMA_CROSS}\n\ndef helper(x: 'not valid python ?') -> None:\n    return x\n");
    assert!(validate(&code, &strict()).accepted());
}

#[test]
fn findings_point_at_the_offending_attribute() {
    let report = validate(&in_next("x = self.data.__class__"), &strict());
    let f = report.errors().next().expect("one error");
    assert_eq!((f.rule.as_str(), f.line, f.col), ("dunder-access", 11, 23));
}

/// Source forms where a parser could read other lines than CPython's tokenizer does. Each
/// hides `__import__('os')` behind the form; the validator must see the call CPython runs.
#[test]
fn the_validator_reads_the_lines_cpython_reads() {
    let hidden = "__import__('os').system('id')";
    let forms = [
        ("a lone carriage return ends a line", format!("x = 1\r{hidden}\n")),
        ("a carriage return after a comment ends it", format!("# note\r{hidden}\n")),
        ("a form feed in the indentation", format!("if True:\n\x0c    {hidden}\n")),
        ("a form feed before a statement", format!("x = 1\n\x0c{hidden}\n")),
        ("a line continuation", format!("x = \\\n    {hidden}\n")),
        ("a continuation inside a comment does not continue", format!("# comment \\\n{hidden}\n")),
        ("CRLF line ends", format!("x = 1\r\n{hidden}\r\n")),
    ];
    for (what, code) in forms {
        let rules = rules_of(&code, &strict());
        assert!(rules.iter().any(|r| r == "forbidden-call" || r == "dunder-access"), "{what}: {rules:?}");
    }
    // A NUL byte: CPython refuses the source; so does the validator.
    assert!(rules_of("x = 1\0\n", &strict()).contains(&"syntax".to_owned()));
}

#[test]
fn only_utf8_and_ascii_coding_declarations_are_accepted() {
    let strategy = "from backtesting import Strategy\n\n\nclass S(Strategy):\n    def init(self):\n        pass\n\n    def next(self):\n        pass\n";
    for ok in [
        "# -*- coding: utf-8 -*-\n",
        "# coding=UTF8\n",
        "#!/usr/bin/env python3\n# coding: ascii\n",
        "# vim: set fileencoding=utf-8 :\n",
    ] {
        let report = validate(&format!("{ok}{strategy}"), &strict());
        assert!(report.accepted(), "{ok:?}: {}", report.summary());
    }
    for bad in [
        "# -*- coding: utf-7 -*-\n",
        "# coding=unicode_escape\n",
        "#!/bin/python\n# coding: latin-1\n",
        "# coding: raw_unicode_escape\n",
        "\u{feff}# coding: ascii\n",
    ] {
        let rules = rules_of(&format!("{bad}{strategy}"), &strict());
        assert!(rules.contains(&"encoding-declaration".to_owned()), "{bad:?}: {rules:?}");
    }
    // A cookie after the first two lines is a plain comment for CPython too.
    assert!(validate(&format!("{strategy}# coding: utf-7\n"), &strict()).accepted());
}

#[test]
fn constant_true_loops_need_a_way_out() {
    for endless in [
        "while True:\n            pass",
        "while 1:\n            x = 1",
        "while not None:\n            continue",
    ] {
        assert!(rules_of(&in_next(endless), &strict()).contains(&"endless-loop".to_owned()), "{endless}");
    }
    for bounded in [
        "while True:\n            break",
        "while True:\n            if self.data.Close[-1] > 0:\n                return",
        "while True:\n            raise ValueError('stop')",
        "while True:\n            try:\n                break\n            finally:\n                pass",
        "n = 3\n        while n:\n            n -= 1",
    ] {
        let rules = rules_of(&in_next(bounded), &strict());
        assert!(!rules.contains(&"endless-loop".to_owned()), "{bounded}: {rules:?}");
    }
}

#[test]
fn a_strategys_own_private_state_is_allowed_and_the_frameworks_is_not() {
    let own = in_next("self._seen = getattr(self, '_seen', 0) + 1");
    assert!(validate(&own, &strict()).accepted(), "{}", validate(&own, &strict()).summary());
    for foreign in [
        "self._broker._cash = 1",
        "x = self.position._p",
        "delattr(self, '_data')",
        "y = self.data._Data__arrays",
    ] {
        assert!(
            rules_of(&in_next(foreign), &strict()).contains(&"framework-internal".to_owned()),
            "{foreign}"
        );
    }
}
