//! Faults on demand, drawn from a seeded generator so that a run can be repeated:
//! throttling, 5xx errors, latency, a connection dropped before the request is applied, and
//! one dropped after it is applied (the ambiguous case a client cannot tell from the first).

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::playbook::DurationSpec;

/// The probability of each fault per request, and added latency.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultSpec {
    pub throttle: f64,
    pub error: f64,
    pub drop: f64,
    pub drop_after: f64,
    /// Every request waits this long before it is handled.
    pub latency: Duration,
}

impl FromStr for FaultSpec {
    type Err = String;

    /// `throttle=0.2,error=0.05,drop=0.02,drop_after=0.02,latency=50ms`; `none` for no faults.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut spec = FaultSpec::default();
        if text == "none" || text.is_empty() {
            return Ok(spec);
        }
        for part in text.split(',') {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not NAME=VALUE (throttle=0.2, latency=50ms)"))?;
            if name == "latency" {
                spec.latency = value.parse::<DurationSpec>()?.0;
                continue;
            }
            let p: f64 = value.parse().map_err(|_| format!("`{value}` is not a probability from 0 to 1"))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("`{value}` is not a probability from 0 to 1"));
            }
            match name {
                "throttle" => spec.throttle = p,
                "error" => spec.error = p,
                "drop" => spec.drop = p,
                "drop_after" | "drop-after" => spec.drop_after = p,
                other => {
                    return Err(format!(
                        "unknown fault `{other}`: use throttle, error, drop, drop_after or latency"
                    ));
                }
            }
        }
        if spec.throttle + spec.error + spec.drop + spec.drop_after > 1.0 {
            return Err("the fault probabilities add up to more than 1".into());
        }
        Ok(spec)
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Throttle,
    Error,
    /// Close the connection without applying the request.
    Drop,
    /// Apply the request, then close the connection without answering.
    DropAfter,
}

/// Draws faults from a seeded generator.
#[derive(Debug)]
pub struct FaultInjector {
    spec: FaultSpec,
    rng: Mutex<StdRng>,
}

impl FaultInjector {
    pub fn new(spec: FaultSpec, seed: u64) -> Self {
        Self { spec, rng: Mutex::new(StdRng::seed_from_u64(seed)) }
    }

    pub fn latency(&self) -> Duration {
        self.spec.latency
    }

    pub fn draw(&self) -> Fault {
        let spec = self.spec;
        if spec.throttle + spec.error + spec.drop + spec.drop_after == 0.0 {
            return Fault::None;
        }
        let roll: f64 = self.rng.lock().unwrap_or_else(|e| e.into_inner()).random();
        let mut edge = spec.throttle;
        if roll < edge {
            return Fault::Throttle;
        }
        edge += spec.error;
        if roll < edge {
            return Fault::Error;
        }
        edge += spec.drop;
        if roll < edge {
            return Fault::Drop;
        }
        edge += spec.drop_after;
        if roll < edge {
            return Fault::DropAfter;
        }
        Fault::None
    }
}

#[cfg(test)]
mod tests {
    use super::{Fault, FaultInjector, FaultSpec};
    use std::time::Duration;

    #[test]
    fn parses_the_issue_example() {
        let spec: FaultSpec =
            "throttle=0.2,error=0.05,drop=0.02,drop_after=0.02,latency=5ms".parse().unwrap();
        assert_eq!(spec.throttle, 0.2);
        assert_eq!(spec.drop_after, 0.02);
        assert_eq!(spec.latency, Duration::from_millis(5));
        assert!("throttle=2".parse::<FaultSpec>().is_err());
        assert!("slow=0.1".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn the_same_seed_draws_the_same_faults_at_the_expected_rates() {
        let spec: FaultSpec = "throttle=0.2,error=0.05,drop=0.02,drop_after=0.02".parse().unwrap();
        let draw = |seed| {
            let injector = FaultInjector::new(spec, seed);
            (0..10_000).map(|_| injector.draw()).collect::<Vec<_>>()
        };
        let first = draw(7);
        assert_eq!(first, draw(7));
        assert_ne!(first, draw(8));
        let throttled = first.iter().filter(|f| **f == Fault::Throttle).count();
        assert!((1800..2200).contains(&throttled), "{throttled}");
    }
}
