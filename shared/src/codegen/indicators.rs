//! Python source of the indicator helpers the generated strategies call.
//!
//! Each helper is a pure function of numpy arrays (pandas and numpy only, no I/O), emitted
//! once per module for every indicator kind the strategy uses, and checked numerically
//! against independent implementations by `tests/codegen_numeric.rs`.

use crate::spec::IndicatorKind;

/// The Python function name of the helper for `kind` (e.g. `_sma`).
pub fn helper_name(kind: IndicatorKind) -> String {
    format!("_{}", kind.name())
}

/// Black-formatted Python source of the helper for `kind`, without surrounding blank lines.
pub fn helper_source(kind: IndicatorKind) -> &'static str {
    match kind {
        IndicatorKind::Sma => SMA,
        IndicatorKind::Ema => EMA,
        IndicatorKind::Wma => WMA,
        IndicatorKind::Rsi => RSI,
        IndicatorKind::Macd => MACD,
        IndicatorKind::Bbands => BBANDS,
        IndicatorKind::Atr => ATR,
        IndicatorKind::Stochastic => STOCHASTIC,
        IndicatorKind::Donchian => DONCHIAN,
        IndicatorKind::Highest => HIGHEST,
        IndicatorKind::Lowest => LOWEST,
        IndicatorKind::Roc => ROC,
        IndicatorKind::Std => STD,
    }
}

/// Every helper, separated as black separates top-level functions, preceded by the imports
/// they need: a self-contained module for numeric tests and documentation.
pub fn indicator_helpers_source() -> String {
    let mut out = String::from("import numpy as np\nimport pandas as pd\n");
    for kind in IndicatorKind::ALL {
        out.push_str("\n\n");
        out.push_str(helper_source(kind));
    }
    out
}

const SMA: &str = r#"def _sma(values, n):
    """Simple moving average over n bars."""
    return pd.Series(values).rolling(n).mean().to_numpy()
"#;

const EMA: &str = r#"def _ema(values, n):
    """Exponential moving average with span n, seeded at the first value."""
    return pd.Series(values).ewm(span=n, adjust=False, min_periods=n).mean().to_numpy()
"#;

const WMA: &str = r#"def _wma(values, n):
    """Linearly weighted moving average over n bars (newest bar weighs n)."""
    values = np.asarray(values, dtype=float)
    weights = np.arange(1, n + 1, dtype=float)
    out = np.full(len(values), np.nan)
    if len(values) >= n:
        out[n - 1 :] = np.convolve(values, weights[::-1], mode="valid") / weights.sum()
    return out
"#;

const RSI: &str = r#"def _rsi(values, n):
    """Relative strength index with Wilder smoothing (alpha = 1/n)."""
    delta = pd.Series(values).diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    loss = (-delta).clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    return (100 - 100 / (1 + gain / loss)).to_numpy()
"#;

const MACD: &str = r#"def _macd(values, fast, slow, signal):
    """MACD line, signal line and histogram."""
    close = pd.Series(values)
    fast_ema = close.ewm(span=fast, adjust=False, min_periods=fast).mean()
    slow_ema = close.ewm(span=slow, adjust=False, min_periods=slow).mean()
    line = fast_ema - slow_ema
    sig = line.ewm(span=signal, adjust=False, min_periods=signal).mean()
    return line.to_numpy(), sig.to_numpy(), (line - sig).to_numpy()
"#;

const BBANDS: &str = r#"def _bbands(values, n, k):
    """Bollinger bands: upper, middle, lower (population standard deviation).

    The deviation is computed per window (two-pass) rather than by pandas' running
    variance, which loses precision on flat stretches.
    """
    close = pd.Series(values)
    middle = close.rolling(n).mean()
    width = k * close.rolling(n).apply(np.std, raw=True)
    return (middle + width).to_numpy(), middle.to_numpy(), (middle - width).to_numpy()
"#;

const ATR: &str = r#"def _atr(high, low, close, n):
    """Average true range with Wilder smoothing (alpha = 1/n)."""
    high, low, close = pd.Series(high), pd.Series(low), pd.Series(close)
    prev_close = close.shift(1)
    true_range = pd.concat(
        [high - low, (high - prev_close).abs(), (low - prev_close).abs()], axis=1
    ).max(axis=1)
    return true_range.ewm(alpha=1 / n, adjust=False, min_periods=n).mean().to_numpy()
"#;

const STOCHASTIC: &str = r#"def _stochastic(high, low, close, k, d):
    """Stochastic oscillator: %K over k bars and its d-bar average %D."""
    high, low, close = pd.Series(high), pd.Series(low), pd.Series(close)
    lowest = low.rolling(k).min()
    highest = high.rolling(k).max()
    percent_k = 100 * (close - lowest) / (highest - lowest)
    return percent_k.to_numpy(), percent_k.rolling(d).mean().to_numpy()
"#;

const DONCHIAN: &str = r#"def _donchian(high, low, n):
    """Donchian channel: highest high, midpoint, lowest low over n bars."""
    upper = pd.Series(high).rolling(n).max()
    lower = pd.Series(low).rolling(n).min()
    return upper.to_numpy(), ((upper + lower) / 2).to_numpy(), lower.to_numpy()
"#;

const HIGHEST: &str = r#"def _highest(values, n):
    """Highest value over n bars."""
    return pd.Series(values).rolling(n).max().to_numpy()
"#;

const LOWEST: &str = r#"def _lowest(values, n):
    """Lowest value over n bars."""
    return pd.Series(values).rolling(n).min().to_numpy()
"#;

const ROC: &str = r#"def _roc(values, n):
    """Rate of change over n bars, in percent."""
    series = pd.Series(values)
    return (100 * (series / series.shift(n) - 1)).to_numpy()
"#;

const STD: &str = r#"def _std(values, n):
    """Rolling population standard deviation over n bars (two-pass per window)."""
    return pd.Series(values).rolling(n).apply(np.std, raw=True).to_numpy()
"#;
