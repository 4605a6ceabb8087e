//! Integration tests of the rule language: precedence, canonical printing, error columns,
//! suggestions, type checks, and a property test that the parser never panics.

use algoagent_spec::codegen::{RuleErrorKind, Scope, check_rule, parse_rule};
use algoagent_spec::{IndicatorKind, ParamValue};
use proptest::prelude::*;

fn sexp(src: &str) -> String {
    match parse_rule(src) {
        Ok(e) => e.sexp(),
        Err(e) => panic!("{src:?} should parse: {e}"),
    }
}

fn syntax_error(src: &str) -> String {
    match parse_rule(src) {
        Ok(e) => panic!("{src:?} should not parse, got {}", e.sexp()),
        Err(e) => e.to_string(),
    }
}

fn scope() -> Scope {
    let mut s = Scope::default();
    for (k, v) in [
        ("oversold", ParamValue::Int(30)),
        ("period", ParamValue::Int(14)),
        ("ratio", ParamValue::Float(1.5)),
    ] {
        s.parameters.insert(k.to_owned(), Some(v));
    }
    for (k, v) in [
        ("rsi", IndicatorKind::Rsi),
        ("macd", IndicatorKind::Macd),
        ("bb", IndicatorKind::Bbands),
        ("sma_fast", IndicatorKind::Sma),
    ] {
        s.indicators.insert(k.to_owned(), Some(v));
    }
    s
}

fn rule_error(src: &str) -> (String, RuleErrorKind) {
    match check_rule(src, &scope()) {
        Ok(n) => panic!("{src:?} should be refused, got {n:?}"),
        Err(e) => (e.to_string(), e.kind),
    }
}

#[test]
fn arithmetic_binds_tighter_than_comparison_and_logic() {
    assert_eq!(sexp("a + b * c"), "(+ a (* b c))");
    assert_eq!(sexp("a * b + c"), "(+ (* a b) c)");
    assert_eq!(sexp("a - b - c"), "(- (- a b) c)");
    assert_eq!(sexp("a / b / c"), "(/ (/ a b) c)");
    assert_eq!(sexp("(a + b) * c"), "(* (+ a b) c)");
    assert_eq!(sexp("a + b > c * 2"), "(> (+ a b) (* c 2))");
}

#[test]
fn logic_follows_python_precedence() {
    assert_eq!(sexp("a > 1 and b > 2 or c > 3"), "(or (and (> a 1) (> b 2)) (> c 3))");
    assert_eq!(sexp("a > 1 or b > 2 and c > 3"), "(or (> a 1) (and (> b 2) (> c 3)))");
    assert_eq!(sexp("not a > 1 and b > 2"), "(and (not (> a 1)) (> b 2))");
    assert_eq!(sexp("not not a == 1"), "(not (not (== a 1)))");
    assert_eq!(sexp("-a * b < -3"), "(< (* (neg a) b) (neg 3))");
}

#[test]
fn postfix_forms_bind_tightest() {
    assert_eq!(sexp("-close[1]"), "(neg ([] close 1))");
    assert_eq!(sexp("macd.signal[2] > 0"), "(> ([] (. macd signal) 2) 0)");
    assert_eq!(
        sexp("crossover(sma(close, 10), bbands(close, 20, 2).upper)"),
        "(crossover (sma close 10) (. (bbands close 20 2) upper))"
    );
    assert_eq!(sexp("highest(high, 20)[1] <= close"), "(<= ([] (highest high 20) 1) close)");
    assert_eq!(sexp("rsi() < 3"), "(< (rsi) 3)");
}

#[test]
fn numbers_lex_in_every_form() {
    assert_eq!(sexp("x > 1.5e3"), "(> x 1500.0)");
    assert_eq!(sexp("x > .5"), "(> x 0.5)");
    assert_eq!(sexp("x > 2E-2"), "(> x 0.02)");
    assert_eq!(sexp("x != 007"), "(!= x 7)");
}

#[test]
fn canonical_printing_round_trips() {
    for src in [
        "rsi < oversold",
        "(a or b) and not (c > 1)",
        "a - (b - c) > (a - b) - c",
        "-(a + b) * 2 >= 1",
        "crossover(macd.line, macd.signal) and macd.hist[1] < 0",
        "close > sma(close, 20) * 1.02 or volume >= 2 * sma(volume, 50)",
        "x / (y / z) == 1",
        "not (a > 1 and b > 2)",
    ] {
        let e = parse_rule(src).expect("parses");
        let printed = e.to_string();
        let again = parse_rule(&printed).expect("canonical form parses");
        assert_eq!(e.sexp(), again.sexp(), "{src} -> {printed}");
    }
    assert_eq!(parse_rule("( (a>1) )and(b<2)").expect("ok").to_string(), "a > 1 and b < 2");
}

#[test]
fn syntax_errors_point_at_the_offending_column() {
    assert_eq!(syntax_error("rsi < "), "col 7: rule ends where a value is expected");
    assert_eq!(syntax_error("rsi =< 30"), "col 5: '=' is not an operator; use '==' to compare");
    assert_eq!(syntax_error("rsi < 30 && close > 1"), "col 10: use 'and' instead of '&&'");
    assert_eq!(syntax_error("a < b < c"), "col 7: comparisons cannot be chained; combine them with 'and'");
    assert_eq!(syntax_error("(close > 1"), "col 11: expected ')', found end of rule");
    assert_eq!(syntax_error("close > 1)"), "col 10: unmatched ')'");
    assert_eq!(syntax_error("close[1.5] > 1"), "col 7: lookback must be an integer between 0 and 1000");
    assert_eq!(syntax_error("close[1001] > 1"), "col 7: lookback must be an integer between 0 and 1000");
    assert_eq!(
        syntax_error("close > 1abc"),
        "col 9: invalid number: a number must not run into letters, '_' or '.'"
    );
    assert_eq!(syntax_error("close ** 2"), "col 7: '**' (power) is not supported");
    assert_eq!(syntax_error("and close"), "col 1: expected a value before 'and'");
    assert_eq!(syntax_error(""), "col 1: rule is empty");
    assert_eq!(syntax_error("close > $"), "col 9: unexpected character '$'");
    assert_eq!(syntax_error("close\n> 1"), "col 6: unexpected character '\\n'");
    assert_eq!(
        syntax_error("(a + b)[1] > 0"),
        "col 8: lookback [n] follows a column or indicator, e.g. close[1]"
    );
    assert_eq!(syntax_error("close > 1 close"), "col 11: expected an operator or end of rule, found 'close'");
}

#[test]
fn columns_count_characters_not_bytes() {
    // 'é' is two bytes but one column.
    assert_eq!(syntax_error("é > 1"), "col 1: unexpected character '\\u{e9}'");
    assert_eq!(syntax_error("1 > 2 é"), "col 7: unexpected character '\\u{e9}'");
}

#[test]
fn unknown_functions_get_suggestions() {
    let e = parse_rule("close > smaa(close, 20)").expect_err("unknown");
    assert_eq!(e.to_string(), "col 9: unknown function 'smaa' (did you mean 'sma'?)");
    assert_eq!(e.kind, RuleErrorKind::Undeclared);
    let e = parse_rule("crosover(a, b)").expect_err("unknown");
    assert_eq!(e.to_string(), "col 1: unknown function 'crosover' (did you mean 'crossover'?)");
    let e = parse_rule("frobnicate(a) > 1").expect_err("unknown");
    assert_eq!(e.to_string(), "col 1: unknown function 'frobnicate'");
}

#[test]
fn unknown_names_get_suggestions_with_columns() {
    let (msg, kind) = rule_error("close > rsx");
    assert_eq!(msg, "col 9: unknown indicator 'rsx' (did you mean 'rsi'?)");
    assert_eq!(kind, RuleErrorKind::Undeclared);
    assert_eq!(
        rule_error("rsi < oversld").0,
        "col 7: unknown parameter 'oversld' (did you mean 'oversold'?)"
    );
    assert_eq!(rule_error("closee > 1").0, "col 1: unknown column 'closee' (did you mean 'close'?)");
    assert_eq!(rule_error("RSI < 30").0, "col 1: unknown indicator 'RSI' (did you mean 'rsi'?)");
    assert!(rule_error("zzz > 1").0.starts_with("col 1: unknown name 'zzz'"));
    assert_eq!(
        rule_error("macd.signl > 0").0,
        "col 6: macd has no output 'signl' (did you mean 'signal'?); outputs: line, signal, hist"
    );
}

#[test]
fn type_errors_are_explained() {
    for (src, want) in [
        ("rsi", "col 1: a rule must be a condition"),
        ("rsi and close > 1", "col 1: expected a condition"),
        ("(rsi < 3) + 1 > 0", "col 1: expected a number, found a condition"),
        ("crossover(30, 40)", "col 1: crossover needs a column or an indicator"),
        ("crossover(close[1], rsi)", "col 11: crossover compares whole series"),
        ("crossover(close)", "col 1: crossover takes 2 arguments"),
        ("rsi.signal > 1", "col 5: 'rsi' is a rsi indicator with a single output"),
        ("close.upper > 1", "col 7: 'close' has no outputs"),
        ("oversold[1] > 1", "col 1: 'oversold' is a parameter"),
        ("close / 0 > 1", "col 9: division by zero"),
        ("sma(close) > 1", "col 1: sma expects (source, period)"),
        ("sma(close, 0) > 1", "col 12: period must be a window"),
        ("sma(close, ratio) > 1", "col 12: parameter 'ratio' is 1.5; period must be an integer"),
        ("sma(20, close) > 1", "col 5: the first argument of sma must be a column or an indicator"),
        ("macd(26, 12, 9) > 0", "col 1: macd fast (26) must be less than slow (12)"),
        ("bbands(close, 20, 11).upper > 0", "col 19: std_dev must be greater than 0 and at most 10"),
        ("sma(close[1], 5) > 0", "col 5: the source of sma is a whole series"),
        ("close > 1e13", "col 9: number is too large"),
    ] {
        let (msg, _) = rule_error(src);
        assert!(msg.starts_with(want), "{src}: got {msg:?}, want prefix {want:?}");
    }
}

#[test]
fn valid_rules_resolve() {
    let s = scope();
    for src in [
        "rsi < oversold",
        "crossover(sma_fast, close) or crossunder(macd, macd.signal)",
        "bb.upper - bb.lower > 2 * atr(14)",
        "rsi(14) < 30 and rsi(close, period) < 30",
        "sma(rsi, 5) > 50 and ema(macd.hist, 3) > 0",
        "stochastic(14).k < 20 and stochastic(14, 3).d < 20",
        "donchian(20).upper[1] < close",
        "roc(close, 10) > 0 and std(close, 20) < 5 and wma(open, 5) > lowest(low, 5)",
        "bbands(20).lower > close and bbands(close, 20, ratio).upper > close",
        "highest(high, period)[3] >= high",
        "not crossover(close, 100)",
    ] {
        if let Err(e) = check_rule(src, &s) {
            panic!("{src}: {e}");
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}1{} > 0", "(".repeat(10_000), ")".repeat(10_000));
    assert!(syntax_error(&deep).contains("nested too deeply"));
    let negs = format!("{}1 > 0", "-".repeat(10_000));
    assert!(syntax_error(&negs).contains("nested too deeply"));
    let nots = format!("{}close > 0", "not ".repeat(10_000));
    assert!(syntax_error(&nots).contains("nested too deeply"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(src in "\\PC{0,120}") {
        let _ = parse_rule(&src);
        let _ = check_rule(&src, &scope());
    }

    #[test]
    fn the_parser_never_panics_on_rule_like_text(
        src in "[a-z0-9_ ().,<>=!+*/\\[\\]-]{0,80}|(rsi|macd|bb|close|sma|crossover|and|or|not|\\(|\\)|\\[|\\]|\\.|,|<|>=|-|\\*|[0-9]{1,4}| )*"
    ) {
        let _ = parse_rule(&src);
        let _ = check_rule(&src, &scope());
    }

    #[test]
    fn canonical_text_of_any_parsed_rule_reparses_identically(
        src in "(rsi|close|oversold|1|2\\.5|\\(|\\)|\\+|-|\\*|/|<|>=|==| and | or |not |\\[1\\]|macd\\.signal| )*"
    ) {
        if let Ok(e) = parse_rule(&src) {
            let printed = e.to_string();
            let again = parse_rule(&printed);
            prop_assert!(again.is_ok(), "{} -> {}", src, printed);
            if let Ok(again) = again {
                prop_assert_eq!(e.sexp(), again.sexp());
            }
        }
    }
}
