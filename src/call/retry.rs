//! Retries: which errors are worth another attempt, and how long to wait before it.
//!
//! One policy, the playbook's: the SDK's own retry layer is off (`aws.rs`), so `max-attempts`
//! means what it says. Errors are classified from the SDK's metadata (code, HTTP status,
//! timeouts, dispatch failures); delays grow exponentially with full jitter, as AWS advises.

use std::fmt;
use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rand::Rng;

use super::describe::{self, Transport};
use crate::playbook::{Jitter, RetrySpec};

/// Codes that mean "slow down".
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

/// What kind of failure an attempt ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Throttling,
    /// A 5xx answer.
    Transient,
    Timeout,
    /// The connection failed or closed before an answer.
    Connection,
    /// The service refused the request (4xx other than throttling), or it could not be built.
    Client,
    /// A program (`exec`) exited with a code the step does not count as success, or was
    /// killed by a signal. Not retried unless `retry.on` names it.
    ExitCode,
    /// The run was stopped (SIGINT, SIGTERM) before this item finished; `--resume` runs it.
    Stopped,
    /// A quota that does not refill soon (Partner Central's daily accept quota) is used up:
    /// the step stops starting items, and `--resume` runs them later.
    QuotaExhausted,
}

impl ErrorClass {
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Throttling => "throttling",
            ErrorClass::Transient => "transient",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connection => "connection",
            ErrorClass::Client => "client",
            ErrorClass::ExitCode => "exit-code",
            ErrorClass::Stopped => "stopped",
            ErrorClass::QuotaExhausted => "quota-exhausted",
        }
    }
}

/// A failed call, with what the SDK told us about it. Never holds a secret: messages come
/// from the service or the transport, and the engine masks them again before showing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub class: ErrorClass,
    pub code: Option<String>,
    pub message: String,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    /// The request may have been applied although no answer came (a timeout or a dropped
    /// connection after sending).
    pub ambiguous: bool,
    /// How the request failed to get a readable answer, when it did not.
    pub transport: Option<Transport>,
    /// The SDK's full account of the error (its `Debug` structures), for `-vv` only: never in
    /// `message`, which is what people read.
    pub detail: Option<String>,
    /// Whether [`super::describe::explain`] has put the endpoint and hints in `message`.
    pub explained: bool,
}

impl CallError {
    /// An error of `class` with `message` and nothing else known.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            code: None,
            message: message.into(),
            status: None,
            request_id: None,
            ambiguous: false,
            transport: None,
            detail: None,
            explained: false,
        }
    }

    pub fn client(code: &str, message: impl Into<String>) -> Self {
        Self { code: Some(code.to_string()), ..Self::new(ErrorClass::Client, message) }
    }

    pub fn timeout(after: Duration) -> Self {
        Self {
            ambiguous: true,
            ..Self::new(
                ErrorClass::Timeout,
                format!("no answer within {}", humantime::format_duration(after)),
            )
        }
    }

    /// The run was stopped before the item finished: it is left for `--resume`.
    pub fn stopped() -> Self {
        Self::new(ErrorClass::Stopped, "the run was stopped before this item finished")
    }

    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Whether AWS refused who is calling rather than what was asked: credentials missing,
    /// unknown, expired or not allowed the action. No retry helps until someone fixes them:
    /// a worker is not ready (`/readyz`) while its calls fail this way.
    pub fn is_access_refused(&self) -> bool {
        match self.code() {
            Some(code) => ACCESS_REFUSED.contains(&code),
            // The SDK found no credentials to sign with: it says so in words, no code.
            None => {
                self.class != ErrorClass::ExitCode
                    && self.message.to_ascii_lowercase().contains("credentials")
            }
        }
    }

    /// Classifies an SDK error from its metadata.
    pub fn from_sdk<E, R>(error: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + 'static,
        SdkError<E, R>: std::error::Error,
    {
        let detail = Some(aws_smithy_types::error::display::DisplayErrorContext(error).to_string());
        let described = match error {
            SdkError::ServiceError(service) => {
                let code = service.err().code().map(str::to_string);
                let status = raw_status(service.raw());
                if code.is_none() {
                    // An error answer without a code: not the service's shape.
                    let body =
                        raw_body(service.raw()).map(|b| describe::body_start(b, 120)).unwrap_or_default();
                    let class = if status.is_some_and(|s| s >= 500) {
                        ErrorClass::Transient
                    } else {
                        ErrorClass::Client
                    };
                    return Self {
                        status,
                        transport: Some(Transport::Unreadable),
                        detail,
                        ..Self::new(class, unreadable(status, &body))
                    };
                }
                let class = if code.as_deref() == Some("ServiceQuotaExceededException") {
                    ErrorClass::QuotaExhausted
                } else if code.as_deref().is_some_and(|c| THROTTLING_CODES.contains(&c))
                    || status == Some(429)
                {
                    ErrorClass::Throttling
                } else if status.is_some_and(|s| s >= 500) {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Client
                };
                let message =
                    service.err().message().map_or_else(|| code.clone().unwrap_or_default(), str::to_string);
                // The code and message are the whole story: no SDK detail to add.
                return Self {
                    code,
                    status,
                    request_id: aws_request_id(service.err()),
                    ..Self::new(class, message)
                };
            }
            SdkError::TimeoutError(_) => Self {
                ambiguous: true,
                transport: Some(Transport::Timeout),
                ..Self::new(ErrorClass::Timeout, Transport::Timeout.summary())
            },
            SdkError::DispatchFailure(failure) => {
                let kind = match describe::transport(error) {
                    Transport::Other | Transport::Closed if failure.is_timeout() => Transport::Timeout,
                    kind => kind,
                };
                let class =
                    if kind == Transport::Timeout { ErrorClass::Timeout } else { ErrorClass::Connection };
                // A connection that closed after the request went out may have applied it.
                Self {
                    ambiguous: !failure.is_user(),
                    transport: Some(kind),
                    ..Self::new(class, transport_message(kind, error))
                }
            }
            SdkError::ResponseError(response) => {
                let status = raw_status(response.raw());
                let body = raw_body(response.raw()).map(|b| describe::body_start(b, 120)).unwrap_or_default();
                Self {
                    ambiguous: true,
                    status,
                    transport: Some(Transport::Unreadable),
                    ..Self::new(ErrorClass::Connection, unreadable(status, &body))
                }
            }
            _ => Self::new(ErrorClass::Client, describe::chain(error)),
        };
        Self { detail, ..described }
    }
}

/// What went wrong on the way, and its root cause when that says more.
fn transport_message(kind: Transport, error: &(dyn std::error::Error + 'static)) -> String {
    let chain = describe::chain(error);
    let root = chain.rsplit(": ").next().unwrap_or_default();
    if root.is_empty() || root.to_ascii_lowercase().contains(kind.summary()) {
        kind.summary().to_string()
    } else {
        format!("{}: {root}", kind.summary())
    }
}

fn unreadable(status: Option<u16>, body: &str) -> String {
    let status = status.map_or("no HTTP status".to_string(), |s| format!("HTTP {s}"));
    match body {
        "" => format!("{status}, empty body"),
        body => format!("{status}, body begins `{body}`"),
    }
}

fn raw_body<R: fmt::Debug + 'static>(raw: &R) -> Option<&[u8]> {
    (raw as &dyn std::any::Any)
        .downcast_ref::<aws_smithy_runtime_api::http::Response>()
        .and_then(|r| r.body().bytes())
}

fn raw_status<R: fmt::Debug + 'static>(raw: &R) -> Option<u16> {
    (raw as &dyn std::any::Any)
        .downcast_ref::<aws_smithy_runtime_api::http::Response>()
        .map(|r| r.status().as_u16())
}

fn aws_request_id<E: ProvideErrorMetadata>(error: &E) -> Option<String> {
    error.meta().extra("aws_request_id").map(str::to_string)
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, self.status) {
            (Some(code), Some(status)) => write!(f, "{code} (HTTP {status}): {}", self.message),
            (Some(code), None) => write!(f, "{code}: {}", self.message),
            (None, _) => write!(f, "{} error: {}", self.class.name(), self.message),
        }
    }
}

/// The retry settings in force for one step: the step's, over `defaults.retry`, over these.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub multiplier: f64,
    pub jitter: Jitter,
    /// Classes and codes to retry. `None`: the four classes.
    pub on: Option<Vec<String>>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            multiplier: 2.0,
            jitter: Jitter::Full,
            on: None,
        }
    }
}

/// The codes of [`CallError::is_access_refused`].
const ACCESS_REFUSED: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
];

/// Codes never retried unless `on:` names them.
const NEVER_RETRIED: &[&str] = &[
    "ValidationException",
    "AccessDeniedException",
    "InvalidNonceException",
    "InvalidClientTokenException",
    "JobNotFoundException",
    "ResourceNotFoundException",
];

impl RetryPolicy {
    pub fn resolve(layers: &[Option<&RetrySpec>]) -> Self {
        let mut policy = Self::default();
        for spec in layers.iter().rev().flatten() {
            if let Some(n) = spec.max_attempts {
                policy.max_attempts = n;
            }
            if let Some(d) = spec.initial_delay {
                policy.initial_delay = d.0;
            }
            if let Some(d) = spec.max_delay {
                policy.max_delay = d.0;
            }
            if let Some(m) = spec.multiplier {
                policy.multiplier = m;
            }
            if let Some(j) = spec.jitter {
                policy.jitter = j;
            }
            if let Some(on) = &spec.on {
                policy.on = Some(on.clone());
            }
        }
        policy
    }

    pub fn should_retry(&self, error: &CallError) -> bool {
        let code = error.code.as_deref();
        match &self.on {
            Some(on) => on.iter().any(|entry| Some(entry.as_str()) == code || entry == error.class.name()),
            None => {
                !matches!(error.class, ErrorClass::Client | ErrorClass::QuotaExhausted | ErrorClass::ExitCode)
                    && !code.is_some_and(|c| NEVER_RETRIED.contains(&c))
            }
        }
    }

    /// The wait before attempt `attempt + 1` (attempts count from 1).
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exponent = attempt.saturating_sub(1).min(63) as i32;
        let base = self.initial_delay.as_secs_f64() * self.multiplier.powi(exponent);
        let capped = base.min(self.max_delay.as_secs_f64());
        let seconds = match self.jitter {
            Jitter::Full => rng.random_range(0.0..=capped),
            Jitter::None => capped,
        };
        Duration::from_secs_f64(seconds)
    }

    /// One line for `--dry-run` and the docs.
    pub fn describe(&self) -> String {
        let on = match &self.on {
            Some(on) if on.is_empty() => "nothing unless `on` names it".into(),
            Some(on) => on.join(", "),
            None => "throttling, 5xx, timeouts and broken connections".into(),
        };
        format!(
            "up to {} attempts; delays {} growing x{} to at most {}{}; retries {on}",
            self.max_attempts,
            humantime::format_duration(self.initial_delay),
            self.multiplier,
            humantime::format_duration(self.max_delay),
            if self.jitter == Jitter::Full { ", full jitter" } else { "" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{CallError, ErrorClass, RetryPolicy};
    use crate::playbook::Jitter;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::time::Duration;

    fn error(class: ErrorClass, code: Option<&str>) -> CallError {
        CallError { code: code.map(str::to_string), ..CallError::new(class, "") }
    }

    #[test]
    fn the_default_retries_the_four_classes_and_never_validation() {
        let policy = RetryPolicy::default();
        for class in
            [ErrorClass::Throttling, ErrorClass::Transient, ErrorClass::Timeout, ErrorClass::Connection]
        {
            assert!(policy.should_retry(&error(class, None)), "{class:?}");
        }
        assert!(!policy.should_retry(&error(ErrorClass::Client, Some("ValidationException"))));
        assert!(!policy.should_retry(&error(ErrorClass::Client, Some("ConflictException"))));
    }

    #[test]
    fn on_lists_classes_and_codes() {
        let policy = RetryPolicy {
            on: Some(vec!["throttling".into(), "ConflictException".into()]),
            ..RetryPolicy::default()
        };
        assert!(policy.should_retry(&error(ErrorClass::Throttling, Some("ThrottlingException"))));
        assert!(policy.should_retry(&error(ErrorClass::Client, Some("ConflictException"))));
        assert!(!policy.should_retry(&error(ErrorClass::Transient, None)));
    }

    #[test]
    fn delays_grow_to_the_cap_and_jitter_stays_below_it() {
        let policy = RetryPolicy { jitter: Jitter::None, ..RetryPolicy::default() };
        let mut rng = StdRng::seed_from_u64(1);
        let delays: Vec<_> = (1..=9).map(|a| policy.delay(a, &mut rng)).collect();
        assert_eq!(delays[0], Duration::from_millis(200));
        assert_eq!(delays[1], Duration::from_millis(400));
        assert_eq!(delays[8], Duration::from_secs(20));
        let full = RetryPolicy::default();
        for attempt in 1..20 {
            assert!(full.delay(attempt, &mut rng) <= Duration::from_secs(20));
        }
    }
}
