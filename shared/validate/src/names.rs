//! Identifier normalisation. Python compares identifiers after NFKC normalisation
//! (PEP 3131), so `ｅｖａｌ` *is* `eval`; every name is normalised before it is checked.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// The NFKC form of an identifier, borrowed when it is unchanged (always for ASCII).
#[inline]
pub fn nfkc(name: &str) -> Cow<'_, str> {
    if name.is_ascii() { Cow::Borrowed(name) } else { nfkc_non_ascii(name) }
}

fn nfkc_non_ascii(name: &str) -> Cow<'_, str> {
    let normalized: String = name.nfkc().collect();
    if normalized == name { Cow::Borrowed(name) } else { Cow::Owned(normalized) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fullwidth_and_ligature_identifiers_normalise_to_ascii() {
        assert_eq!(nfkc("ｅｖａｌ"), "eval");
        assert_eq!(nfkc("__ｃlass__"), "__class__");
        assert_eq!(nfkc("ﬁle"), "file");
        assert!(matches!(nfkc("close"), Cow::Borrowed(_)));
    }
}
