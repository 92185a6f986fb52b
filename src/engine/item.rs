//! One item (or a step without `for-each`): evaluate `when`, render the input, derive the
//! idempotency token, check the rendered input against the action's schema (nothing invalid
//! is sent), hand it to the action through a [`Caller`], and record how it ended: the
//! journal first (durable before it counts), then the events.

use std::sync::Arc;

use serde_json::Value;

use super::{Engine, ItemReport, Output, SINGLE_KEY, StepPlan, kind_of, token_from};
use crate::actions::{ActionContext, ActionKind, ItemScope};
use crate::call::{AttemptNotice, CallError, Caller, ErrorClass, Outcome, RetryNotice};
use crate::events::{AttemptFailure, Event, ItemStatus};
use crate::journal::{AttemptRecord, ItemRecord};
use crate::playbook::Pointer;

impl Engine {
    /// What an error message needs to know about the action's calls: the operation, the IAM
    /// action behind it, the endpoint URL.
    fn call_site(&self, kind: ActionKind) -> crate::call::describe::CallSite {
        use crate::actions::Service;
        let service = kind.service();
        crate::call::describe::CallSite {
            operation: kind.operation(),
            iam_action: match service {
                Some(Service::CodePipeline) => Some(format!("codepipeline:{}", kind.operation())),
                Some(Service::PartnerCentralSelling) => Some(format!("partnercentral:{}", kind.operation())),
                Some(Service::S3) | None => None,
            },
            endpoint: service.and_then(|s| self.clients.endpoint(s)),
        }
    }

    /// The input as the journal keeps it: masked, and never a secret input (a CodePipeline
    /// client token, what `exec` passes in `env`), even one written literally.
    fn journaled_input(&self, kind: ActionKind, input: &Value) -> Value {
        let mut input = self.masker.mask_json(input);
        kind.redact(&mut input);
        input
    }

    /// Runs one item: `when`, render, check, send, and says how it ended; [`Engine::record_item`]
    /// then records that. Two parts because an item waits for its commit after its calls: the
    /// call's future (the SDK's stack, tens of kilobytes) is gone by then, so items waiting for
    /// a slow commit hold little memory.
    pub(super) async fn run_item(
        self: Arc<Self>,
        plan: Arc<StepPlan>,
        position: Option<(usize, String)>,
        // The item's label (see `item_label`), unless the step's `name` makes one.
        mut label: String,
        context: minijinja::Value,
        // A `for-each` item's concurrency slot, given back once its calls are done.
        slot: Option<super::for_each::Slot>,
    ) -> ItemEnd {
        let (index, key) = match &position {
            Some((index, key)) => (Some(*index), key.clone()),
            None => (None, SINGLE_KEY.to_string()),
        };
        let started_at = crate::journal::now();
        // What the journal keeps of the item besides its outcome: the input as sent, and
        // every attempt (filled in as the item goes).
        let sent_input = std::sync::Mutex::new(Value::Null);
        let attempt_log: std::sync::Mutex<Vec<AttemptRecord>> = Default::default();
        if let Some(name) = &plan.name
            && let Ok(Value::String(rendered)) = self.renderer.render_str(name, &context)
        {
            label = self.masker.mask(&rendered);
        }
        let slot = std::sync::Mutex::new(slot);
        let finish = |status: ItemStatus,
                      (attempts, throttled): (u32, u32),
                      output: Value,
                      error: Option<CallError>| {
            // The calls are over: the slot goes to the next item while this one's outcome is
            // committed, so a slow commit does not stop the step's calls.
            if let Some(slot) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                slot.release(status);
            }
            let error_code = error.as_ref().and_then(|e| e.code.clone());
            // The output as everything shows it, and the unmasked one only when they differ.
            let (masked_output, secret) = match self.masker.mask_json_if_needed(&output) {
                Some(masked) => (masked, Some(output)),
                None => (output, None),
            };
            let mut attempts_made = Vec::new();
            if self.recorder.is_some() {
                attempts_made = attempt_log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if attempts > 0 {
                    attempts_made.push(AttemptRecord {
                        attempt: attempts,
                        at: crate::journal::now(),
                        outcome: match (status, &error) {
                            (ItemStatus::Failed, Some(e)) => e.class.name().to_string(),
                            (other, _) => other.name().to_string(),
                        },
                        error_code: error_code.clone(),
                        http_status: error.as_ref().and_then(|e| e.status),
                        request_id: error.as_ref().and_then(|e| e.request_id.clone()),
                        message: error.as_ref().map(|e| self.masker.mask(&e.message)),
                        delay_ms: None,
                    });
                }
            }
            let record = ItemRecord {
                step_id: plan.id.clone(),
                action: plan.kind.name().to_string(),
                key: key.clone(),
                position: index,
                // `--resume` runs again what an earlier session did not finish: its row goes.
                replaces: self
                    .replay
                    .get(&plan.id)
                    .and_then(|step| step.get(&key))
                    .map(|earlier| earlier.position),
                label: label.clone(),
                status,
                attempts,
                throttled,
                input: if self.recorder.is_some() {
                    self.journaled_input(plan.kind, &sent_input.lock().unwrap_or_else(|e| e.into_inner()))
                } else {
                    Value::Null
                },
                output: masked_output,
                error_code,
                error: error.as_ref().map(|e| self.masker.mask(&e.to_string())),
                started_at: started_at.clone(),
                finished_at: crate::journal::now(),
            };
            ItemEnd::Ended(Box::new(Ending { record, attempts_made, secret, retries: 0 }))
        };
        if let Some(when) = &plan.when {
            match self.renderer.render_str(when, &context) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => {
                    return finish(ItemStatus::Skipped, (0, 0), Value::Null, None);
                }
                Ok(other) => {
                    let message = format!("`when` yielded {}, not true or false", kind_of(&other));
                    return finish(
                        ItemStatus::Failed,
                        (0, 0),
                        Value::Null,
                        Some(CallError::client("TemplateError", message)),
                    );
                }
                Err(e) => {
                    return finish(
                        ItemStatus::Failed,
                        (0, 0),
                        Value::Null,
                        Some(CallError::client("TemplateError", format!("`when`: {}", e.message))),
                    );
                }
            }
        }
        let mut input = match self.renderer.render_value(&plan.raw_input, &context) {
            Ok(input) => input,
            Err((path, e)) => {
                let at =
                    Pointer::from_json_pointer(&format!("/steps/{}/{}{path}", plan.index, plan.kind.name()));
                let message = format!("{at}: {}", e.message);
                return finish(
                    ItemStatus::Failed,
                    (0, 0),
                    Value::Null,
                    Some(CallError::client("TemplateError", message)),
                );
            }
        };
        // The item's derived token: the API's idempotency token where the action has one,
        // and the item's scope for the action (artifact paths, `exec`'s environment).
        let token = token_from(&plan.token_seed, &key);
        if plan.kind.derives_client_token()
            && let Some(object) = input.as_object_mut()
            && !object.contains_key("client-token")
        {
            object.insert("client-token".into(), Value::String(token.clone()));
        }
        let violations = coerce_to_schema(plan.kind, &mut input);
        *sent_input.lock().unwrap_or_else(|e| e.into_inner()) = input.clone();
        if let Some(violation) = violations.first() {
            let at = Pointer::from_json_pointer(&format!("/steps/{}/{}", plan.index, plan.kind.name()));
            let mut path = at;
            for segment in violation.at.segments() {
                path = path.join(segment.clone());
            }
            let message = format!("{path}: {} (nothing was sent)", describe_violation(violation));
            return finish(
                ItemStatus::Failed,
                (0, 0),
                Value::Null,
                Some(CallError::client("InvalidInput", message)),
            );
        }
        if self.review && plan.kind.spec().changes {
            let mut shown = input.clone();
            plan.kind.redact(&mut shown);
            let shown = self.masker.mask_json(&shown);
            let note = CallError {
                code: Some("review".into()),
                ..CallError::new(
                    ErrorClass::Client,
                    format!("would send {} {shown}; nothing was sent", plan.kind.operation()),
                )
            };
            return finish(ItemStatus::Skipped, (0, 0), serde_json::json!({"would_send": shown}), Some(note));
        }
        let [action_limiter, service_limiter] = self.limiters.of(plan.kind);
        let reporter = self.reporter.clone();
        let masker = self.masker.clone();
        let step_id = plan.id.clone();
        let site = self.call_site(plan.kind);
        let on_retry = |notice: &RetryNotice| {
            let error = &crate::call::describe::explain(&notice.error, &site);
            attempt_log.lock().unwrap_or_else(|e| e.into_inner()).push(AttemptRecord {
                attempt: notice.attempt,
                at: crate::journal::now(),
                outcome: error.class.name().to_string(),
                error_code: error.code.clone(),
                http_status: error.status,
                request_id: error.request_id.clone(),
                message: Some(masker.mask(&error.message)),
                delay_ms: Some(notice.delay.as_millis() as u64),
            });
            reporter.report(&Event::Retrying {
                step: step_id.clone(),
                item: index,
                attempt: notice.attempt,
                max_attempts: notice.max_attempts,
                delay: notice.delay,
                class: error.class.name(),
                error: masker.mask(&error.to_string()),
                http_status: error.status,
                request_id: error.request_id.clone(),
                detail: error.detail.as_deref().map(|d| masker.mask(d)),
            });
        };
        let kind = plan.kind;
        let on_attempt = |notice: &AttemptNotice<'_>| {
            let failure = notice.result.err().map(|error| AttemptFailure {
                class: error.class.name(),
                code: error.code.clone(),
                message: masker.mask(&error.message),
                access_refused: error.is_access_refused(),
            });
            let moved = matches!(kind, ActionKind::DownloadArtifacts | ActionKind::UploadArtifacts);
            reporter.report(&Event::Attempt {
                step: step_id.clone(),
                action: kind,
                elapsed: notice.elapsed,
                failure,
                bytes: notice.result.ok().filter(|_| moved).and_then(Value::as_u64),
            });
        };
        let caller = Caller::new(&plan.policy, [&action_limiter, &service_limiter], plan.timeout, &on_retry)
            .with_attempts(&on_attempt)
            .with_cancel(self.cancel.clone());
        let context = ActionContext {
            clients: &self.clients,
            caller: &caller,
            watcher: plan.watcher.as_ref(),
            masker: &self.masker,
            item: ItemScope { run_id: &plan.run_id, key: &token, dir: &plan.dir, workdir: &plan.workdir },
        };
        let outcome = plan.kind.execute(input, &context).await;
        let attempts = (caller.attempts(), caller.throttled());
        let retries = caller.retries();
        if attempts.1 > 0 {
            self.report_pace(&plan).await;
        }
        let mut end = match outcome {
            Outcome::Succeeded(output) => {
                self.masker.learn_from_output(&output);
                finish(ItemStatus::Succeeded, attempts, output, None)
            }
            Outcome::Skipped { output, reason } => {
                let note = CallError::new(ErrorClass::Client, reason);
                finish(ItemStatus::Skipped, attempts, output.unwrap_or_default(), Some(note))
            }
            // Stopped before it finished: not journaled, so `--resume` runs it again (with
            // the same derived token, so an attempt the service did apply is not repeated).
            Outcome::Failed { error, .. }
                if matches!(error.class, ErrorClass::Stopped | ErrorClass::QuotaExhausted) =>
            {
                if error.class == ErrorClass::QuotaExhausted
                    && !plan.exhausted.swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    self.reporter.report(&Event::QuotaExhausted {
                        step: plan.id.clone(),
                        message: self.masker.mask(&error.to_string()),
                    });
                }
                let report = ItemReport {
                    index,
                    key: key.clone(),
                    label: label.clone(),
                    status: None,
                    attempts: attempts.0,
                    throttled: attempts.1,
                    retries: 0,
                    output: Output::Held(Box::default()),
                    error_code: None,
                    error: Some(self.masker.mask(&error.to_string())),
                    replayed: false,
                };
                ItemEnd::Stopped(report)
            }
            Outcome::Failed { error, output } => {
                let error = crate::call::describe::explain(&error, &site);
                finish(ItemStatus::Failed, attempts, output.unwrap_or_default(), Some(error))
            }
        };
        match &mut end {
            ItemEnd::Ended(ending) => ending.retries = retries,
            ItemEnd::Stopped(report) => report.retries = retries,
        }
        end
    }

    /// Records how an item ended: the journal first (durable before it counts as done; if it
    /// cannot be written, nothing new starts), then the event. Returns the report (with the
    /// masked output, or a note that the journal has it) and, when masking changed the output,
    /// the unmasked one: later templates may read it, nothing shows it (see `results`).
    pub(super) async fn record_item(&self, end: ItemEnd) -> (ItemReport, Option<Value>) {
        let ending = match end {
            ItemEnd::Stopped(report) => return (report, None),
            ItemEnd::Ended(ending) => *ending,
        };
        let Ending { record, attempts_made, secret, retries } = ending;
        let ItemRecord { ref step_id, position, ref label, status, attempts, throttled, .. } = record;
        // Said once the outcome is recorded: an event never runs ahead of the journal.
        let finished = Event::ItemFinished {
            step: step_id.clone(),
            item: position,
            label: label.clone(),
            status,
            attempts,
            error: record.error.clone(),
        };
        let mut report = ItemReport {
            index: position,
            key: record.key.clone(),
            label: label.clone(),
            status: Some(status),
            attempts,
            throttled,
            retries,
            output: Output::Journaled,
            error_code: record.error_code.clone(),
            error: record.error.clone(),
            replayed: false,
        };
        // The row is moved to the journal's writer, not copied: an item waiting for its
        // commit holds it once.
        let kept = match &self.recorder {
            Some(recorder) => match recorder.item(record, attempts_made).await {
                Ok(()) => None,
                Err(row) => {
                    // Not recorded, so not done: nothing new starts.
                    self.cancel.cancel();
                    Some(row.map(|r| r.output).unwrap_or_default())
                }
            },
            None => Some(record.output),
        };
        if let Some(output) = kept {
            report.output = Output::Held(Box::new(output));
        }
        self.reporter.report(&finished);
        (report, secret)
    }
}

/// How an item ended, before it is recorded.
pub(super) enum ItemEnd {
    /// It ran (or was skipped, or failed before sending): the journal's row, to record.
    Ended(Box<Ending>),
    /// Stopped before it finished (a signal, a quota used up): not journaled, so `--resume`
    /// runs it again (with the same derived token).
    Stopped(ItemReport),
}

pub(super) struct Ending {
    /// The item's row as the journal keeps it (input and output masked).
    record: ItemRecord,
    /// Its attempts, for the journal (empty without one).
    attempts_made: Vec<AttemptRecord>,
    /// The unmasked output, when masking changed it.
    secret: Option<Value>,
    retries: u32,
}

/// Checks a rendered input against the action's schema, first turning values into the type
/// the API wants where the intent is plain: `"{{ index }}"` yields 3 where a string is
/// wanted, and a CSV cell yields "50" where an integer is. Returns what still does not fit.
pub(super) fn coerce_to_schema(kind: ActionKind, input: &mut Value) -> Vec<crate::schema::Violation> {
    use crate::schema::Problem;
    for _ in 0..8 {
        let violations = crate::schema::validate_action(kind, input);
        let mut changed = false;
        for violation in &violations {
            let Problem::WrongType { expected } = &violation.problem else { continue };
            let Some(slot) = input.pointer_mut(&violation.at.to_json_pointer()) else { continue };
            let coerced = match (
                &*slot,
                expected.iter().any(|t| t == "string"),
                expected.iter().any(|t| t == "integer"),
            ) {
                (Value::Number(n), true, _) => Some(Value::String(n.to_string())),
                (Value::Bool(b), true, _) => Some(Value::String(b.to_string())),
                (Value::String(s), _, true) => s.trim().parse::<i64>().ok().map(Value::from),
                _ => None,
            };
            if let Some(value) = coerced {
                *slot = value;
                changed = true;
            }
        }
        if !changed {
            return violations;
        }
    }
    crate::schema::validate_action(kind, input)
}

/// A schema violation of a rendered input, in one line.
fn describe_violation(violation: &crate::schema::Violation) -> String {
    use crate::schema::Problem;
    let found = violation.found.as_ref().map(|f| match f {
        Value::String(s) => format!("`{s}`"),
        other => other.to_string(),
    });
    let what = match &violation.problem {
        Problem::TooShort { min } => format!("shorter than {min} characters"),
        Problem::TooLong { max } => format!("longer than {max} characters"),
        Problem::Pattern { pattern } => format!("does not match `{pattern}`"),
        Problem::NotOneOf { options } => format!("is not one of {}", options.join(", ")),
        Problem::WrongType { expected } => format!("is not {}", expected.join(" or ")),
        Problem::TooSmall { min } => format!("is less than {min}"),
        Problem::TooLarge { max } => format!("is more than {max}"),
        Problem::MissingKey { key } => format!("is missing `{key}`"),
        Problem::UnknownKey { key, .. } => format!("has an unknown key `{key}`"),
        Problem::TooFewItems { min } => format!("has fewer than {min} items"),
        Problem::TooManyItems { max } => format!("has more than {max} items"),
        other => format!("{other:?}"),
    };
    match found {
        Some(found) if violation.at.last() != Some("client-token") => format!("{found} {what}"),
        _ => what,
    }
}
