//! Property tests of what the engine promises about every item, whatever its data:
//! the rendered input is either fit to send or refused before sending, and the derived
//! client token always has the API's form and is stable.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::item::coerce_to_schema;
use crate::actions::ActionKind;
use crate::emulator::{Connectionless, EmulatorConfig};

/// A value as data files and earlier outputs bring them: plausible ids, anything printable,
/// strings that look like templates, numbers, and the odd null, bool, list or mapping.
fn data_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "engi-[0-9a-z]{13}".prop_map(Value::from),
        "arn:[ -~]{0,300}".prop_map(Value::from),
        "\\PC{0,80}".prop_map(Value::from),
        "\\{\\{ ?[a-z.]{0,12} ?\\}\\}".prop_map(Value::from),
        "\\{% [a-z ]{0,12}%\\}[a-z]{0,4}".prop_map(Value::from),
        "[a-zA-Z]{1,12}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!(["engi-0000000000000"])),
        Just(json!({"Id": "engi-0000000000000"})),
    ]
}

/// The emulator's answer to a signed request: its status and `__type`, if any.
fn emulator_verdict(emulator: &Connectionless, operation: usize, body: &Value) -> (u16, String) {
    let request = emulator.signed_request(operation, body.to_string().as_bytes());
    let answer = crate::fuzz::block_on(emulator.exchange(&request));
    let text = String::from_utf8_lossy(&answer);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let kind = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|b| b.get("__type").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    (status, kind)
}

/// An action input as the API spells it: `job-id` -> `jobId` for CodePipeline,
/// `identifier` -> `Identifier` for Partner Central (whose members are capitalized).
fn api_body(input: &Value) -> Value {
    let partner = input.get("catalog").is_some();
    let name = |key: &str| {
        let mut out = String::new();
        for (i, part) in key.split('-').enumerate() {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                if i == 0 && !partner {
                    out.push(first);
                } else {
                    out.extend(first.to_uppercase());
                }
                out.push_str(chars.as_str());
            }
        }
        out
    };
    match input {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (name(k), api_body(v))).collect()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The rendered input of an action fed by data (invitation ids from a CSV, a reason from
    /// a column, job ids from a poll) either fails handoff's check, and is refused before
    /// sending, or is one the service (the emulator, which enforces the API's documented
    /// constraints) does not refuse as invalid: nothing invalid is sent.
    #[test]
    fn a_rendered_input_that_passes_the_check_is_valid_for_the_service(
        action in 0usize..5,
        catalog in prop_oneof![Just(json!("AWS")), Just(json!("Sandbox")), data_value()],
        identifier in data_value(),
        text in data_value(),
    ) {
        // (action, input, operation number in the emulator, the API body from the input)
        let (kind, mut input, operation) = match action {
            0 => (ActionKind::AcceptInvitation,
                  json!({ "catalog": catalog, "identifier": identifier, "client-token": "handoff-0123" }), 7),
            1 => (ActionKind::RejectInvitation,
                  json!({ "catalog": catalog, "identifier": identifier, "rejection-reason": text }), 9),
            2 => (ActionKind::GetInvitation, json!({ "catalog": catalog, "identifier": identifier }), 6),
            3 => (ActionKind::Acknowledge,
                  json!({ "job-id": identifier, "nonce": text, "client-token": "handoff-0123" }), 2),
            _ => (ActionKind::ReportFailure, json!({
                      "job-id": identifier, "client-token": "handoff-0123",
                      "failure-details": { "type": "JobFailed", "message": text },
                  }), 4),
        };
        if !coerce_to_schema(kind, &mut input).is_empty() {
            // Refused before sending: the other allowed outcome.
            return Ok(());
        }
        let body = api_body(&input);
        let emulator = Connectionless::new(&EmulatorConfig::default()).unwrap();
        let (status, kind) = emulator_verdict(&emulator, operation, &body);
        prop_assert!(
            kind != "ValidationException" && kind != "SerializationException",
            "sent {body} after the check passed; the service answered {status} {kind}"
        );
    }

    /// The derived client token: `[!-~]{1,64}`, the same for the same (playbook, run, step,
    /// item), different for another item.
    #[test]
    fn derived_tokens_have_the_api_form_and_are_stable(
        playbook in "\\PC{0,40}", run in "\\PC{0,40}", step in "\\PC{0,40}",
        key in "\\PC{0,200}", other in "\\PC{0,200}",
    ) {
        let seed = format!("{playbook}\n{run}\n{step}");
        let token = super::derived_token(&seed, &key);
        prop_assert!(!token.is_empty() && token.len() <= 64, "{token}");
        prop_assert!(token.bytes().all(|b| (b'!'..=b'~').contains(&b)), "{token}");
        prop_assert_eq!(&token, &super::derived_token(&seed, &key));
        if other != key {
            prop_assert_ne!(&token, &super::derived_token(&seed, &other));
        }
    }
}
