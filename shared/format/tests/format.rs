//! The formatter on strategy code: Black's layout, idempotent, and errors instead of crashes
//! on broken or hostile input.

use algoagent_format::{FormatError, format_python};

#[test]
fn code_is_laid_out_as_black_would() {
    let messy = "import backtesting\nclass  S( backtesting.Strategy ):\n  n=10\n  def init(self):\n     self.x=[1,2 ,3]\n  def next(self): pass\n";
    let formatted = format_python(messy).expect("formats");
    assert_eq!(
        formatted,
        "import backtesting\n\n\nclass S(backtesting.Strategy):\n    n = 10\n\n    def init(self):\n        self.x = [1, 2, 3]\n\n    def next(self):\n        pass\n"
    );
    assert_eq!(format_python(&formatted).expect("formats again"), formatted, "idempotent");
}

#[test]
fn single_quotes_become_double_and_long_calls_wrap_at_88_columns() {
    let code = "x = {'a': 1}\nresult = some_function(argument_number_one, argument_number_two, argument_number_three, four)\n";
    let formatted = format_python(code).expect("formats");
    assert!(formatted.starts_with("x = {\"a\": 1}\n"), "{formatted}");
    assert!(formatted.lines().all(|l| l.len() <= 88), "{formatted}");
    assert!(formatted.contains("result = some_function(\n    argument_number_one,"), "{formatted}");
}

#[test]
fn a_syntax_error_names_its_line() {
    let err = format_python("x = 1\ny = (\n").expect_err("broken");
    assert!(matches!(err, FormatError::Syntax { line: 2 | 3, .. }), "{err:?}");
}

#[test]
fn hostile_nesting_is_refused_before_the_formatter_sees_it() {
    let deep = format!("x = {}1{}\n", "(".repeat(100_000), ")".repeat(100_000));
    assert!(matches!(format_python(&deep), Err(FormatError::Limits(_))));
    let nul = "x = 1\0\n";
    assert!(matches!(format_python(nul), Err(FormatError::Limits(_))));
}

#[test]
fn the_deepest_expression_the_prescan_admits_formats_without_overflowing() {
    // 40 brackets (under the nesting limit), each holding a long unary chain.
    let mut expr = String::from("1");
    for _ in 0..40 {
        expr = format!("(-{expr} + - - - - - - - - - - - - - - - - - - - - - 1)");
    }
    let code = format!("x = {expr}\n");
    let result = format_python(&code);
    assert!(result.is_ok() || matches!(result, Err(FormatError::Limits(_))), "{result:?}");
}
