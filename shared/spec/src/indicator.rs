//! The indicator catalogue: which indicators exist, which fields each takes, their defaults
//! and their outputs.
//!
//! Spec validation, the rule resolver and the code generator all read this one table, so an
//! indicator is added in one place.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A technical indicator the builtin code generator can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IndicatorKind {
    /// Simple moving average of `source` over `period` bars.
    Sma,
    /// Exponential moving average (span `period`, seeded at the first value).
    Ema,
    /// Linearly weighted moving average.
    Wma,
    /// Relative strength index with Wilder smoothing.
    Rsi,
    /// MACD line, signal line and histogram.
    Macd,
    /// Bollinger bands: upper, middle, lower.
    Bbands,
    /// Average true range with Wilder smoothing (uses high, low, close).
    Atr,
    /// Stochastic oscillator %K and %D (uses high, low, close).
    Stochastic,
    /// Donchian channel: highest high, midpoint, lowest low.
    Donchian,
    /// Highest value of `source` over `period` bars.
    Highest,
    /// Lowest value of `source` over `period` bars.
    Lowest,
    /// Rate of change in percent over `period` bars.
    Roc,
    /// Rolling (population) standard deviation.
    Std,
    /// Williams %R over `period` bars, from -100 (at the low) to 0 (at the high).
    #[serde(rename = "williams_r")]
    WilliamsR,
    /// Keltner channels: EMA of close ± `multiplier` × ATR (upper, middle, lower).
    Keltner,
    /// Commodity channel index of the typical price (constant 0.015).
    Cci,
    /// Average directional index with +DI and -DI, Wilder smoothing.
    Adx,
    /// On-balance volume (uses close and volume).
    Obv,
    /// Volume-weighted average of the typical price over `period` bars.
    Vwap,
    /// Parabolic SAR (Wilder) with acceleration `step` up to `max_step`.
    Psar,
    /// Money flow index over `period` bars (uses high, low, close, volume).
    Mfi,
    /// Ichimoku lines: tenkan-sen, kijun-sen, senkou span A and B (spans shifted forward).
    Ichimoku,
}

/// An optional field of an indicator entry (besides `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndicatorField {
    /// `period`: window length in bars.
    Period,
    /// `source`: which price column feeds the indicator.
    Source,
    /// `fast`: MACD fast EMA span.
    Fast,
    /// `slow`: MACD slow EMA span.
    Slow,
    /// `signal`: MACD signal EMA span.
    Signal,
    /// `std_dev`: Bollinger band width in standard deviations.
    StdDev,
    /// `k_period`: stochastic %K window.
    KPeriod,
    /// `d_period`: stochastic %D smoothing window.
    DPeriod,
    /// `multiplier`: Keltner channel width in ATRs.
    Multiplier,
    /// `step`: Parabolic SAR acceleration step.
    Step,
    /// `max_step`: Parabolic SAR acceleration cap.
    MaxStep,
    /// `tenkan`: Ichimoku conversion-line window.
    Tenkan,
    /// `kijun`: Ichimoku base-line window (also the forward shift of the spans).
    Kijun,
    /// `senkou`: Ichimoku leading span B window.
    Senkou,
}

impl IndicatorField {
    /// Every field, in the order of [`IndicatorSpec`](super::IndicatorSpec).
    pub const ALL: [IndicatorField; 14] = [
        Self::Period,
        Self::Source,
        Self::Fast,
        Self::Slow,
        Self::Signal,
        Self::StdDev,
        Self::KPeriod,
        Self::DPeriod,
        Self::Multiplier,
        Self::Step,
        Self::MaxStep,
        Self::Tenkan,
        Self::Kijun,
        Self::Senkou,
    ];

    /// The JSON key of the field.
    pub fn key(self) -> &'static str {
        match self {
            Self::Period => "period",
            Self::Source => "source",
            Self::Fast => "fast",
            Self::Slow => "slow",
            Self::Signal => "signal",
            Self::StdDev => "std_dev",
            Self::KPeriod => "k_period",
            Self::DPeriod => "d_period",
            Self::Multiplier => "multiplier",
            Self::Step => "step",
            Self::MaxStep => "max_step",
            Self::Tenkan => "tenkan",
            Self::Kijun => "kijun",
            Self::Senkou => "senkou",
        }
    }

    /// Whether the field holds a real number (else a window in bars, or the source).
    pub fn is_real(self) -> bool {
        matches!(self, Self::StdDev | Self::Multiplier | Self::Step | Self::MaxStep)
    }
}

impl IndicatorKind {
    /// Every kind, in declaration order (for docs, suggestions and tests).
    pub const ALL: [IndicatorKind; 22] = [
        Self::Sma,
        Self::Ema,
        Self::Wma,
        Self::Rsi,
        Self::Macd,
        Self::Bbands,
        Self::Atr,
        Self::Stochastic,
        Self::Donchian,
        Self::Highest,
        Self::Lowest,
        Self::Roc,
        Self::Std,
        Self::WilliamsR,
        Self::Keltner,
        Self::Cci,
        Self::Adx,
        Self::Obv,
        Self::Vwap,
        Self::Psar,
        Self::Mfi,
        Self::Ichimoku,
    ];

    /// The lowercase name used in JSON `type` fields and as the rule-language function.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sma => "sma",
            Self::Ema => "ema",
            Self::Wma => "wma",
            Self::Rsi => "rsi",
            Self::Macd => "macd",
            Self::Bbands => "bbands",
            Self::Atr => "atr",
            Self::Stochastic => "stochastic",
            Self::Donchian => "donchian",
            Self::Highest => "highest",
            Self::Lowest => "lowest",
            Self::Roc => "roc",
            Self::Std => "std",
            Self::WilliamsR => "williams_r",
            Self::Keltner => "keltner",
            Self::Cci => "cci",
            Self::Adx => "adx",
            Self::Obv => "obv",
            Self::Vwap => "vwap",
            Self::Psar => "psar",
            Self::Mfi => "mfi",
            Self::Ichimoku => "ichimoku",
        }
    }

    /// Looks a kind up by its lowercase name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Looks up an indicator `type` as strategy authors write it: the canonical name, a
    /// common alias (`bollinger`, `willr`, `parabolic_sar`), or a component of a
    /// multi-output indicator (`bollinger_lower`, `macd_signal`, `stochastic_k`, `plus_di`),
    /// which also names the output a bare reference reads. Case and `-`/space are ignored.
    pub fn from_type_name(s: &str) -> Option<(Self, Option<usize>)> {
        let norm: String = s
            .trim()
            .chars()
            .map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_lowercase() })
            .collect();
        if let Some(k) = Self::from_name(&norm) {
            return Some((k, None));
        }
        let kind = |k: Self| Some((k, None));
        match norm.as_str() {
            "moving_average" | "simple_moving_average" | "ma" => kind(Self::Sma),
            "exponential_moving_average" => kind(Self::Ema),
            "weighted_moving_average" => kind(Self::Wma),
            "relative_strength_index" => kind(Self::Rsi),
            "bollinger" | "bollinger_bands" | "bb" => kind(Self::Bbands),
            "average_true_range" => kind(Self::Atr),
            "stoch" | "stochastic_oscillator" => kind(Self::Stochastic),
            "donchian_channel" | "donchian_channels" => kind(Self::Donchian),
            "max" | "rolling_max" => kind(Self::Highest),
            "min" | "rolling_min" => kind(Self::Lowest),
            "rate_of_change" => kind(Self::Roc),
            "stddev" | "stdev" | "standard_deviation" => kind(Self::Std),
            "willr" | "williams" | "williams_%r" | "williamsr" | "wpr" => kind(Self::WilliamsR),
            "keltner_channel" | "keltner_channels" | "kc" => kind(Self::Keltner),
            "commodity_channel_index" => kind(Self::Cci),
            "dmi" | "average_directional_index" => kind(Self::Adx),
            "on_balance_volume" => kind(Self::Obv),
            "parabolic_sar" | "sar" => kind(Self::Psar),
            "money_flow_index" => kind(Self::Mfi),
            "ichimoku_cloud" => kind(Self::Ichimoku),
            _ => {
                // An output name that belongs to one indicator only (`plus_di`, `tenkan`).
                let owners: Vec<Self> =
                    Self::ALL.into_iter().filter(|k| k.output_index(&norm).is_some()).collect();
                if let [k] = owners.as_slice() {
                    return Some((*k, k.output_index(&norm)));
                }
                // `<indicator>_<output>`, split at each underscore from the left
                // (`bollinger_lower`, `macd_signal`, `ichimoku_senkou_a`, `adx_plus_di`).
                norm.match_indices('_').find_map(|(i, _)| {
                    let (k, _) = Self::from_type_name(&norm[..i])?;
                    let o = k.output_index(&norm[i + 1..])?;
                    Some((k, Some(o)))
                })
            }
        }
    }

    /// The index of an output by its name or a common alias (`histogram`, `%k`, `basis`).
    pub fn output_index(self, name: &str) -> Option<usize> {
        let norm = name.trim().to_ascii_lowercase();
        let canonical = match (self, norm.as_str()) {
            (Self::Macd, "macd" | "main") => "line",
            (Self::Macd, "histogram" | "diff") => "hist",
            (Self::Macd, "signal_line") => "signal",
            (Self::Bbands | Self::Keltner | Self::Donchian, "mid" | "basis" | "center") => "middle",
            (Self::Bbands | Self::Keltner | Self::Donchian, "high" | "top" | "upper_band") => "upper",
            (Self::Bbands | Self::Keltner | Self::Donchian, "low" | "bottom" | "lower_band") => "lower",
            (Self::Stochastic, "%k" | "percent_k" | "slowk") => "k",
            (Self::Stochastic, "%d" | "percent_d" | "slowd") => "d",
            (Self::Adx, "pdi" | "di_plus" | "+di") => "plus_di",
            (Self::Adx, "mdi" | "di_minus" | "-di") => "minus_di",
            (Self::Ichimoku, "conversion" | "conversion_line") => "tenkan",
            (Self::Ichimoku, "base" | "base_line") => "kijun",
            (Self::Ichimoku, "span_a" | "leading_span_a") => "senkou_a",
            (Self::Ichimoku, "span_b" | "leading_span_b") => "senkou_b",
            (_, other) => other,
        };
        self.outputs().iter().position(|o| *o == canonical)
    }

    /// Fields an indicator entry of this kind may carry; any other field is refused.
    pub fn fields(self) -> &'static [IndicatorField] {
        use IndicatorField as F;
        match self {
            Self::Sma
            | Self::Ema
            | Self::Wma
            | Self::Rsi
            | Self::Highest
            | Self::Lowest
            | Self::Roc
            | Self::Std => &[F::Period, F::Source],
            Self::Macd => &[F::Source, F::Fast, F::Slow, F::Signal],
            Self::Bbands => &[F::Period, F::Source, F::StdDev],
            Self::Atr | Self::Donchian | Self::WilliamsR | Self::Cci | Self::Adx | Self::Vwap | Self::Mfi => {
                &[F::Period]
            }
            Self::Stochastic => &[F::KPeriod, F::DPeriod],
            Self::Keltner => &[F::Period, F::Multiplier],
            Self::Obv => &[],
            Self::Psar => &[F::Step, F::MaxStep],
            Self::Ichimoku => &[F::Tenkan, F::Kijun, F::Senkou],
        }
    }

    /// The default for an integer (window) field when the entry omits it.
    pub fn default_window(self, field: IndicatorField) -> u32 {
        use IndicatorField as F;
        match (self, field) {
            (
                Self::Rsi | Self::Atr | Self::Stochastic | Self::WilliamsR | Self::Adx | Self::Mfi,
                F::Period | F::KPeriod,
            ) => 14,
            (Self::Ichimoku, F::Tenkan) => 9,
            (Self::Ichimoku, F::Kijun) => 26,
            (Self::Ichimoku, F::Senkou) => 52,
            (Self::Stochastic, F::DPeriod) => 3,
            (Self::Macd, F::Fast) => 12,
            (Self::Macd, F::Slow) => 26,
            (Self::Macd, F::Signal) => 9,
            (Self::Roc, F::Period) => 10,
            _ => 20,
        }
    }

    /// Default Bollinger width in standard deviations.
    pub const DEFAULT_STD_DEV: f64 = 2.0;

    /// The default of a real-valued field when the entry omits it.
    pub fn default_real(self, field: IndicatorField) -> f64 {
        match field {
            IndicatorField::Step => 0.02,
            IndicatorField::MaxStep => 0.2,
            // Bollinger's 2 standard deviations, Keltner's 2 ATRs.
            _ => Self::DEFAULT_STD_DEV,
        }
    }

    /// Named outputs of a multi-output indicator, in the order the Python helper returns them;
    /// empty for single-output indicators. A bare reference means [`Self::primary_output`].
    pub fn outputs(self) -> &'static [&'static str] {
        match self {
            Self::Macd => &["line", "signal", "hist"],
            Self::Bbands | Self::Donchian | Self::Keltner => &["upper", "middle", "lower"],
            Self::Stochastic => &["k", "d"],
            Self::Adx => &["adx", "plus_di", "minus_di"],
            Self::Ichimoku => &["tenkan", "kijun", "senkou_a", "senkou_b"],
            _ => &[],
        }
    }

    /// Index of the output a bare reference (`macd`, `bb`) denotes, for multi-output kinds.
    pub fn primary_output(self) -> usize {
        match self {
            Self::Bbands | Self::Donchian | Self::Keltner => 1,
            _ => 0,
        }
    }

    /// Whether the indicator reads a single `source` column (else it reads [`Self::inputs`]).
    pub fn takes_source(self) -> bool {
        self.fields().contains(&IndicatorField::Source)
    }

    /// The columns an indicator without a `source` reads, in the helper's argument order.
    pub fn inputs(self) -> &'static [PriceColumn] {
        use PriceColumn as C;
        match self {
            Self::Donchian | Self::Psar | Self::Ichimoku => &[C::High, C::Low],
            Self::Mfi | Self::Vwap => &[C::High, C::Low, C::Close, C::Volume],
            Self::Obv => &[C::Close, C::Volume],
            _ if self.takes_source() => &[],
            _ => &[C::High, C::Low, C::Close],
        }
    }
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A price or volume column of the OHLCV dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PriceColumn {
    /// Opening price of the bar.
    Open,
    /// Highest price of the bar.
    High,
    /// Lowest price of the bar.
    Low,
    /// Closing price of the bar.
    Close,
    /// Traded volume of the bar.
    Volume,
}

impl PriceColumn {
    /// Every column, in OHLCV order.
    pub const ALL: [PriceColumn; 5] = [Self::Open, Self::High, Self::Low, Self::Close, Self::Volume];

    /// The lowercase name used in specs and rules.
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::High => "high",
            Self::Low => "low",
            Self::Close => "close",
            Self::Volume => "volume",
        }
    }

    /// The column name in backtesting.py's data (`self.data.Close`).
    pub fn data_attr(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::High => "High",
            Self::Low => "Low",
            Self::Close => "Close",
            Self::Volume => "Volume",
        }
    }

    /// Looks a column up by its lowercase name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl fmt::Display for PriceColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
