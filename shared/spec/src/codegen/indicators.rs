//! Python source of the indicator helpers the generated strategies call.
//!
//! Each helper is a pure function of numpy arrays (pandas and numpy only, no I/O), emitted
//! once per module for every indicator kind the strategy uses, and checked numerically
//! against independent implementations by `tests/codegen_numeric.rs`.

use crate::IndicatorKind;

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
        IndicatorKind::WilliamsR => WILLIAMS_R,
        IndicatorKind::Keltner => KELTNER,
        IndicatorKind::Cci => CCI,
        IndicatorKind::Adx => ADX,
        IndicatorKind::Obv => OBV,
        IndicatorKind::Vwap => VWAP,
        IndicatorKind::Psar => PSAR,
        IndicatorKind::Mfi => MFI,
        IndicatorKind::Ichimoku => ICHIMOKU,
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

const WILLIAMS_R: &str = r#"def _williams_r(high, low, close, n):
    """Williams %R over n bars: -100 at the lowest low, 0 at the highest high."""
    highest = pd.Series(high).rolling(n).max()
    lowest = pd.Series(low).rolling(n).min()
    return (-100 * (highest - pd.Series(close)) / (highest - lowest)).to_numpy()
"#;

const KELTNER: &str = r#"def _keltner(high, low, close, n, multiplier):
    """Keltner channels: EMA(close, n) plus and minus multiplier x ATR(n)."""
    high, low, close = pd.Series(high), pd.Series(low), pd.Series(close)
    middle = close.ewm(span=n, adjust=False, min_periods=n).mean()
    prev_close = close.shift(1)
    true_range = pd.concat(
        [high - low, (high - prev_close).abs(), (low - prev_close).abs()], axis=1
    ).max(axis=1)
    width = multiplier * true_range.ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    return (middle + width).to_numpy(), middle.to_numpy(), (middle - width).to_numpy()
"#;

const CCI: &str = r#"def _cci(high, low, close, n):
    """Commodity channel index of the typical price over n bars (constant 0.015)."""
    typical = (pd.Series(high) + pd.Series(low) + pd.Series(close)) / 3
    mean = typical.rolling(n).mean()

    def mean_deviation(window):
        return np.abs(window - window.mean()).mean()

    deviation = typical.rolling(n).apply(mean_deviation, raw=True)
    return ((typical - mean) / (0.015 * deviation)).to_numpy()
"#;

const ADX: &str = r#"def _adx(high, low, close, n):
    """Average directional index, +DI and -DI with Wilder smoothing (alpha = 1/n)."""
    high, low, close = pd.Series(high), pd.Series(low), pd.Series(close)
    up = high.diff()
    down = -low.diff()
    plus_dm = pd.Series(np.where((up > down) & (up > 0), up, 0.0))
    minus_dm = pd.Series(np.where((down > up) & (down > 0), down, 0.0))
    prev_close = close.shift(1)
    true_range = pd.concat(
        [high - low, (high - prev_close).abs(), (low - prev_close).abs()], axis=1
    ).max(axis=1)
    atr = true_range.ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    plus_di = 100 * plus_dm.ewm(alpha=1 / n, adjust=False, min_periods=n).mean() / atr
    minus_di = 100 * minus_dm.ewm(alpha=1 / n, adjust=False, min_periods=n).mean() / atr
    total = plus_di + minus_di
    dx = (100 * (plus_di - minus_di).abs() / total).where(total != 0, 0.0)
    adx = dx.ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    return adx.to_numpy(), plus_di.to_numpy(), minus_di.to_numpy()
"#;

const OBV: &str = r#"def _obv(close, volume):
    """On-balance volume: volume added on up bars, subtracted on down bars, from 0."""
    close = np.asarray(close, dtype=float)
    direction = np.sign(np.diff(close, prepend=close[:1]))
    return np.cumsum(direction * np.asarray(volume, dtype=float))
"#;

const VWAP: &str = r#"def _vwap(high, low, close, volume, n):
    """Volume-weighted average of the typical price over n bars."""
    typical = (pd.Series(high) + pd.Series(low) + pd.Series(close)) / 3
    volume = pd.Series(volume)
    return ((typical * volume).rolling(n).sum() / volume.rolling(n).sum()).to_numpy()
"#;

const PSAR: &str = r#"def _psar(high, low, step, max_step):
    """Parabolic SAR (Wilder), starting long at the first bar's low."""
    high = np.asarray(high, dtype=float)
    low = np.asarray(low, dtype=float)
    out = np.full(len(high), np.nan)
    if len(high) < 2:
        return out
    long, sar, extreme, accel = True, low[0], high[0], step
    for i in range(1, len(high)):
        sar = sar + accel * (extreme - sar)
        if long:
            sar = min(sar, low[i - 1], low[max(i - 2, 0)])
            if low[i] < sar:
                long, sar, extreme, accel = False, extreme, low[i], step
            elif high[i] > extreme:
                extreme, accel = high[i], min(accel + step, max_step)
        else:
            sar = max(sar, high[i - 1], high[max(i - 2, 0)])
            if high[i] > sar:
                long, sar, extreme, accel = True, extreme, high[i], step
            elif low[i] < extreme:
                extreme, accel = low[i], min(accel + step, max_step)
        out[i] = sar
    return out
"#;

const MFI: &str = r#"def _mfi(high, low, close, volume, n):
    """Money flow index over n bars."""
    typical = (pd.Series(high) + pd.Series(low) + pd.Series(close)) / 3
    flow = typical * pd.Series(volume)
    previous = typical.shift(1)
    positive = flow.where(typical > previous, 0.0).rolling(n).sum()
    negative = flow.where(typical < previous, 0.0).rolling(n).sum()
    return (100 - 100 / (1 + positive / negative)).to_numpy()
"#;

const ICHIMOKU: &str = r#"def _ichimoku(high, low, tenkan, kijun, senkou):
    """Ichimoku tenkan-sen, kijun-sen, and senkou spans A and B shifted ahead."""
    high, low = pd.Series(high), pd.Series(low)

    def midpoint(n):
        return (high.rolling(n).max() + low.rolling(n).min()) / 2

    conversion, base = midpoint(tenkan), midpoint(kijun)
    span_a = ((conversion + base) / 2).shift(kijun)
    span_b = midpoint(senkou).shift(kijun)
    return conversion.to_numpy(), base.to_numpy(), span_a.to_numpy(), span_b.to_numpy()
"#;
