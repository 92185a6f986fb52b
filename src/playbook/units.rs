//! Durations (`250ms`, `5s`, `2m`, `1h`), rates (`10/s`, `60/m`) and failure budgets
//! (`5`, `5%`), parsed from the strings the schema has already checked.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// A duration as written in a playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub Duration);

impl FromStr for DurationSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(digits);
        let number: u64 =
            number.parse().map_err(|_| format!("`{text}` is not a duration like 250ms, 5s, 2m or 1h"))?;
        let duration = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            _ => return Err(format!("`{text}` has no unit: write ms, s, m or h (`{number}s`)")),
        };
        Ok(DurationSpec(duration))
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// Calls per second, from `N/s` or `N/m`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}` is not a rate like 10/s or 60/m");
        let (count, unit) = text.split_once('/').ok_or_else(bad)?;
        let count: f64 = count.parse().map_err(|_| bad())?;
        let per_second = match unit {
            "s" => count,
            "m" => count / 60.0,
            _ => return Err(bad()),
        };
        if !per_second.is_finite() || per_second <= 0.0 {
            return Err(format!("`{text}` allows no calls at all; a rate must be more than 0"));
        }
        Ok(Rate { per_second })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// A client-side limit as `rate-limits` writes it: a rate, or `unlimited` (no client-side
/// limit at all: handoff still slows down when the service throttles).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Rate(Rate),
    Unlimited,
}

impl Limit {
    /// Calls per second; `None` when unlimited.
    pub fn per_second(self) -> Option<f64> {
        match self {
            Limit::Rate(rate) => Some(rate.per_second),
            Limit::Unlimited => None,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Rate(rate) => write!(f, "{}/s", rate.per_second),
            Limit::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "unlimited" {
            return Ok(Limit::Unlimited);
        }
        text.parse().map(Limit::Rate).map_err(de::Error::custom)
    }
}

/// How many items of a `for-each` may fail before no new item starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureBudget {
    Count(u64),
    /// A share of the step's items, 0 to 100.
    Percent(f64),
}

impl FailureBudget {
    /// The number of failures allowed among `items` items.
    pub fn allowed(self, items: usize) -> u64 {
        match self {
            FailureBudget::Count(n) => n,
            // Floor: "5%" of 10 items allows none, as a budget should err on stopping early.
            FailureBudget::Percent(p) => ((items as f64) * p / 100.0).floor() as u64,
        }
    }
}

impl<'de> Deserialize<'de> for FailureBudget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Count(n) => Ok(FailureBudget::Count(n)),
            Raw::Text(text) => {
                let percent = text
                    .strip_suffix('%')
                    .and_then(|p| p.parse::<f64>().ok())
                    .ok_or_else(|| de::Error::custom(format!("`{text}` is not a count or a percentage")))?;
                // Over 100% is reported by the semantic checks, with the playbook's position.
                Ok(FailureBudget::Percent(percent.max(0.0)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DurationSpec, FailureBudget, Rate};
    use std::time::Duration;

    #[test]
    fn parses_durations_in_every_unit() {
        let cases = [("250ms", 250), ("5s", 5_000), ("2m", 120_000), ("1h", 3_600_000)];
        for (text, millis) in cases {
            assert_eq!(text.parse::<DurationSpec>().unwrap().0, Duration::from_millis(millis));
        }
        assert!("5".parse::<DurationSpec>().unwrap_err().contains("no unit"));
        assert!("5d".parse::<DurationSpec>().is_err());
    }

    #[test]
    fn parses_rates_per_second_and_minute() {
        assert_eq!("10/s".parse::<Rate>().unwrap().per_second, 10.0);
        assert_eq!("30/m".parse::<Rate>().unwrap().per_second, 0.5);
        assert!("0/s".parse::<Rate>().is_err());
        assert!("10/h".parse::<Rate>().is_err());
    }

    #[test]
    fn failure_budgets_floor_percentages() {
        assert_eq!(FailureBudget::Percent(5.0).allowed(10), 0);
        assert_eq!(FailureBudget::Percent(5.0).allowed(100), 5);
        assert_eq!(FailureBudget::Count(3).allowed(1), 3);
    }
}
