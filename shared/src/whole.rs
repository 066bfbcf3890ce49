//! Whole numbers as JSON Schema counts them: `3`, and also `3.0` (the
//! value is an integer whatever its spelling), within the target's range.
//! serde alone refuses `3.0` for an `i64`, which refused requests the API's
//! own schema allows. A string is not a number, however it reads.

use std::{fmt, marker::PhantomData};

use serde::{Deserializer, de};

/// `#[serde(deserialize_with = "crate::whole::number")]`
pub fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    deserializer.deserialize_any(Whole(PhantomData))
}

/// `#[serde(default, deserialize_with = "crate::whole::optional")]`
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    deserializer.deserialize_option(Optional(PhantomData))
}

struct Whole<T>(PhantomData<T>);

impl<T: TryFrom<i128>> Whole<T> {
    fn fit<E: de::Error>(value: i128) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::custom(format!("{value} is out of range")))
    }
}

/// 2^127: every `f64` of magnitude below it converts to `i128` exactly.
const I128_LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

impl<'de, T: TryFrom<i128>> de::Visitor<'de> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Self::fit(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Self::fit(i128::from(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<T, E> {
        Self::fit(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if v.is_finite() && v.fract() == 0.0 && v.abs() < I128_LIMIT {
            Self::fit(v as i128)
        } else {
            Err(E::custom(format!("{v} is not a whole number")))
        }
    }
}

struct Optional<T>(PhantomData<T>);

impl<'de, T: TryFrom<i128>> de::Visitor<'de> for Optional<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        number(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "super::number")]
        delta: i64,
        #[serde(default, deserialize_with = "super::optional")]
        version: Option<u64>,
    }

    fn parse(json: &str) -> Result<Sample, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn integral_floats_are_whole_numbers_and_nothing_else_is() {
        let s = parse(r#"{"delta": -3.0, "version": 7.0}"#).unwrap();
        assert_eq!((s.delta, s.version), (-3, Some(7)));
        let s = parse(r#"{"delta": 5}"#).unwrap();
        assert_eq!((s.delta, s.version), (5, None));
        let s = parse(r#"{"delta": 5, "version": null}"#).unwrap();
        assert_eq!(s.version, None);
        let s = parse(r#"{"delta": 1, "version": 18446744073709551615}"#).unwrap();
        assert_eq!(s.version, Some(u64::MAX));
        for bad in [
            r#"{"delta": 1.5}"#,
            r#"{"delta": "1"}"#,
            r#"{"delta": 1e30}"#,
            r#"{"delta": 9223372036854775808}"#,
            r#"{"delta": 1, "version": -1}"#,
            r#"{"delta": 1, "version": 18446744073709551616}"#,
            r#"{"delta": true}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
