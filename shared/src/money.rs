//! The chain's currency, and money in its minor units. Prices are whole
//! minor units (`price_cents`: cents for EUR, yen for JPY); central is
//! configured with the currency (`--currency`) and tells every till in its
//! snapshot, so a price reads "€2.50" on every till alike.

use serde::{Deserialize, Serialize};

/// An ISO 4217 code: three capital letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

/// Currencies whose minor unit is not a hundredth (ISO 4217).
const DECIMALS: [(&str, u32); 14] = [
    ("BHD", 3),
    ("CLP", 0),
    ("ISK", 0),
    ("IQD", 3),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("TND", 3),
    ("UGX", 0),
    ("VND", 0),
];

/// Symbols written before the figure, for the currencies a chain here
/// most likely uses; any other is written as its code ("CHF 2.50").
const SYMBOLS: [(&str, &str); 5] = [
    ("EUR", "€"),
    ("GBP", "£"),
    ("JPY", "¥"),
    ("USD", "$"),
    ("INR", "₹"),
];

impl Default for Currency {
    fn default() -> Self {
        Currency("EUR".into())
    }
}

impl Currency {
    pub fn code(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point: 2, or what ISO 4217 says.
    pub fn decimals(&self) -> u32 {
        DECIMALS
            .iter()
            .find(|(code, _)| *code == self.0)
            .map_or(2, |(_, d)| *d)
    }

    /// `minor` units as money: 250 → "€2.50", -5 → "-€0.05", 250 JPY → "¥250".
    pub fn format(&self, minor: i64) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let minor = minor.unsigned_abs();
        let decimals = self.decimals();
        let unit = 10u64.pow(decimals);
        let figure = if decimals == 0 {
            minor.to_string()
        } else {
            format!(
                "{}.{:0width$}",
                minor / unit,
                minor % unit,
                width = decimals as usize
            )
        };
        match SYMBOLS.iter().find(|(code, _)| *code == self.0) {
            Some((_, symbol)) => format!("{sign}{symbol}{figure}"),
            None => format!("{sign}{} {figure}", self.0),
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = String;

    fn try_from(code: String) -> Result<Self, String> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(code))
        } else {
            Err(format!(
                "a currency is an ISO 4217 code, three capital letters (EUR, GBP, USD), not {code:?}"
            ))
        }
    }
}

impl std::str::FromStr for Currency {
    type Err = String;

    fn from_str(code: &str) -> Result<Self, String> {
        code.to_owned().try_into()
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.0
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::currency().into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Currency {}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        code.parse().unwrap()
    }

    #[test]
    fn money_reads_as_the_currency_writes_it() {
        assert_eq!(currency("EUR").format(250), "€2.50");
        assert_eq!(currency("EUR").format(5), "€0.05");
        assert_eq!(currency("EUR").format(-250), "-€2.50");
        assert_eq!(currency("GBP").format(199), "£1.99");
        assert_eq!(currency("JPY").format(250), "¥250");
        assert_eq!(currency("KWD").format(2500), "KWD 2.500");
        assert_eq!(currency("CHF").format(1000), "CHF 10.00");
        assert_eq!(currency("EUR").format(i64::MIN), "-€92233720368547758.08");
    }

    #[test]
    fn a_currency_is_three_capital_letters() {
        assert!("EUR".parse::<Currency>().is_ok());
        for bad in ["eur", "EU", "EURO", "", "E1R", "€"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad:?}");
        }
        assert_eq!(Currency::default().code(), "EUR");
        assert!(
            serde_json::from_str::<Currency>("\"usd\"").is_err(),
            "refused when read, too"
        );
    }
}
