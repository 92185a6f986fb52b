//! How one unit of an action's work is attempted: wait for the rate limiters, run the attempt
//! under a timeout, classify a failure ([`CallError`], [`ErrorClass`]), and try again as the
//! step's [`RetryPolicy`] says. The layer below `actions/`: actions send through a [`Caller`]
//! and answer an [`Outcome`]; the engine builds the caller from the playbook and drives the
//! actions. Nothing here knows about steps, items or the journal.

mod caller;
pub mod describe;
mod host_quota;
mod limiter;
mod retry;

pub use caller::{AttemptNotice, Caller, Outcome, RetryNotice};
pub use host_quota::HostQuota;
pub use limiter::RateLimiter;
pub use retry::{CallError, ErrorClass, RetryPolicy};
