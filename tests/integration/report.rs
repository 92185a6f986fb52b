//! The HTML report, checked in a real headless Chromium with the network off: a bulk
//! acceptance under throttling and failures, and the demo as a new user runs it. The DOM says
//! what the journal and the emulator's ledger say; no script error, no request leaves the
//! page. Screenshots go to `$CARGO_TARGET_TMPDIR/report-screenshots/`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::browser::Browser;
use super::helpers::{EmulatorProcess, Test};

const CLIENT_TOKEN: &str = "handoff-emulator-client-token";
const SECRET: &str = "s3cr3t-in-a-label";

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshots' directory");
    dir
}

/// What every report must hold in the browser: no error, no request but the page itself.
fn open_cleanly(browser: &mut Browser, page: &Path) {
    browser.open(page);
    // The script says when the table is live (a large run's items are inflated first).
    let ready = browser.eval(
        "new Promise(done => { const t0 = Date.now(); (function check() { \
         if (document.body.dataset.ready || Date.now() - t0 > 10000) done(!!document.body.dataset.ready); \
         else setTimeout(check, 10); })(); })",
    );
    assert_eq!(ready, json!(true), "the items table did not come alive within 10 s");
    let shown = browser.eval("document.getElementById('shown').textContent");
    assert!(shown.as_str().is_some_and(|s| s.contains("matching") || s.contains("No item")), "{shown}");
    assert_eq!(browser.problems(), Vec::<String>::new(), "the page logged errors");
    let requests = browser.requests();
    assert!(
        requests.iter().all(|url| url.starts_with("file://")) && requests.len() == 1,
        "the page requested more than itself: {requests:?}"
    );
}

const PLAYBOOK: &str = r#"
version: 1
name: report-bulk
secrets:
  note: { env: REPORT_SECRET }
# More than the emulator's quota (5/s): handoff is throttled and settles at the rate granted.
rate-limits:
  partnercentral-selling-writes: 8/s
steps:
  - id: pending
    list-invitations: { catalog: AWS, status: [PENDING] }
  - id: accept
    name: "accept {{ item.Id }}"
    for-each: "{{ steps.pending.output.EngagementInvitationSummaries }}"
    concurrency: 8
    on-failure: continue
    accept-invitation: { catalog: AWS, identifier: "{{ item.Id }}" }
  - id: unknown
    name: "accept {{ item }} ({{ secrets.note }})"
    for-each: ["engi-nope000000001", "engi-nope000000002", "engi-nope000000003"]
    on-failure: continue
    accept-invitation: { catalog: AWS, identifier: "{{ item }}" }
"#;

#[test]
fn a_bulk_run_with_throttles_and_failures_reads_the_same_in_the_browser() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=40",
        "--quota",
        "writes=5/s",
        "--task-delay",
        "100ms",
    ]);
    let test = Test::new().file("bulk.yaml", PLAYBOOK).aws_env(&emulator).env("REPORT_SECRET", SECRET);
    let page = test.path().join("report.html");
    let output = test
        .command()
        .args(["run", "bulk.yaml", "--endpoint-url", &emulator.url, "--progress", "plain"])
        .arg("--report")
        .arg(&page)
        .output()
        .expect("handoff runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "three items fail:\n{stderr}");
    assert!(stderr.contains(&format!("{}", page.display())), "the run says where its report is:\n{stderr}");

    // The same run, written again from the journal by `handoff report`, is the same page.
    let again = test.path().join("again.html");
    let report = test.command().args(["report", "latest", "--html"]).arg(&again).output().unwrap();
    assert_eq!(report.status.code(), Some(0), "{}", String::from_utf8_lossy(&report.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html, std::fs::read_to_string(&again).unwrap(), "`report` and `--report` differ");
    assert!(!html.contains(CLIENT_TOKEN), "the client token is in the report");
    assert!(
        !html.contains(SECRET) && html.contains("engi-nope000000002 (********)"),
        "a secret is in the report"
    );
    assert!(!html.contains("client-token"), "idempotency tokens are noise in a report");

    let summary = emulator.summary();
    // Every accept that succeeded started one task (some may still be running).
    let accepted: u64 = summary["tasks"].as_object().unwrap().values().filter_map(Value::as_u64).sum();
    let throttled_by_quota = summary["throttled_by_quota"].as_u64().unwrap();
    assert!(throttled_by_quota > 0, "the emulator's quota throttled nothing: {summary}");

    let mut browser = Browser::start(1280, 900);
    open_cleanly(&mut browser, &page);
    let count = |browser: &mut Browser, status: &str| {
        browser.eval(&format!("+document.querySelector('[data-count={status}] b').textContent"))
    };
    // The list call and every accepted invitation succeeded; the unknown three failed.
    assert_eq!(count(&mut browser, "succeeded"), json!(accepted + 1));
    assert_eq!(count(&mut browser, "failed"), json!(3));
    let failures = browser.eval(
        "[...document.querySelectorAll('#failures tbody tr')].map(r => [r.dataset.code, +r.dataset.count])",
    );
    assert_eq!(failures, json!([["ResourceNotFoundException", 3]]));
    let charts = browser.eval(
        "[...document.querySelectorAll('figure.rate')].map(f => ({group: f.dataset.group, \
         throttled: +f.dataset.throttled, sent: +f.dataset.sent, \
         limit: !!f.querySelector('path.limit'), pace: !!f.querySelector('path.pace'), \
         columns: f.querySelectorAll('g.sent rect').length}))",
    );
    let writes = charts.as_array().unwrap().iter().find(|c| c["group"] == "partnercentral-selling-writes");
    let writes = writes.unwrap_or_else(|| panic!("no chart for the writes' quota group: {charts}"));
    assert!(writes["throttled"].as_u64().unwrap() > 0, "{writes}");
    assert_eq!(writes["throttled"].as_u64(), Some(throttled_by_quota), "{writes}");
    assert!(writes["sent"].as_u64().unwrap() >= 43, "{writes}");
    assert_eq!((&writes["limit"], &writes["pace"]), (&json!(true), &json!(true)), "{writes}");
    assert!(writes["columns"].as_u64().unwrap() > 1, "{writes}");
    assert!(
        charts.as_array().unwrap().iter().any(|c| c["group"] == "partnercentral-selling-reads"),
        "{charts}"
    );
    let latency =
        browser.eval("[...document.querySelectorAll('#latency tbody tr')].map(r => r.dataset.action)");
    assert_eq!(latency, json!(["accept-invitation", "list-invitations"]));
    let steps = browser.eval("[...document.querySelectorAll('.timeline .step')].map(g => g.dataset.step)");
    assert_eq!(steps, json!(["pending", "accept", "unknown"]));
    browser.screenshot(&screenshots().join("bulk.png"));
    // It prints: Chromium's own PDF of the page, kept beside the screenshots.
    let pdf = browser.pdf(&screenshots().join("bulk.pdf"));
    assert!(pdf.starts_with(b"%PDF-") && pdf.len() > 10_000, "{} bytes", pdf.len());

    // The filter: failed items only, then a search within them; the address keeps the view.
    let failed = browser.eval(
        "const s = document.getElementById('status'); s.value = 'failed'; \
         s.dispatchEvent(new Event('change')); \
         [...document.querySelectorAll('#rows tr')].map(r => r.className)",
    );
    assert_eq!(failed, json!(["failed", "failed", "failed"]));
    let searched = browser.eval(
        "const q = document.getElementById('search'); q.value = 'NOPE000000002'; \
         q.dispatchEvent(new Event('input')); \
         [[...document.querySelectorAll('#rows tr')].map(r => r.children[2].textContent), location.hash]",
    );
    assert_eq!(searched, json!([["accept engi-nope000000002 (********)"], "#status=failed&q=nope000000002"]));
    let none = browser.eval(
        "const q2 = document.getElementById('search'); q2.value = 'no such thing'; \
         q2.dispatchEvent(new Event('input')); document.getElementById('shown').textContent",
    );
    assert_eq!(none, json!("No item matches."));
    // A row opens its input and output.
    let opened = browser.eval(
        "document.getElementById('status').value = 'succeeded'; q.value = ''; \
         q.dispatchEvent(new Event('input')); \
         document.querySelector('#rows tr:nth-child(2)').click(); \
         document.querySelector('#rows tr.more').textContent",
    );
    let opened = opened.as_str().unwrap_or_default();
    assert!(opened.contains("input: ") && opened.contains("output: "), "{opened}");
    assert_eq!(browser.problems(), Vec::<String>::new(), "the page logged errors while used");
    assert_eq!(browser.requests().len(), 1, "{:?}", browser.requests());
}

/// A new user's report: the demo, with no settings, at the real quota of one accept a second.
#[test]
fn the_demo_writes_a_report_that_opens_cleanly() {
    let test = Test::new();
    let page = test.path().join("demo.html");
    let output = test.command().args(["demo", "--progress", "none", "--report"]).arg(&page).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&format!("{}", page.display())), "the demo says where its report is:\n{stdout}");
    let mut browser = Browser::start(1280, 900);
    open_cleanly(&mut browser, &page);
    let facts: Value = browser.eval(
        "({succeeded: +document.querySelector('[data-count=succeeded] b').textContent, \
          groups: [...document.querySelectorAll('figure.rate')].map(f => f.dataset.group), \
          sent: +document.querySelector('figure.rate[data-group=partnercentral-selling-writes]').dataset.sent})",
    );
    // One list, eight accepts and eight waits.
    assert_eq!(facts["succeeded"], json!(17), "{facts}");
    assert_eq!(facts["sent"], json!(8), "{facts}");
    assert_eq!(
        facts["groups"],
        json!(["partnercentral-selling-reads", "partnercentral-selling-writes"]),
        "{facts}"
    );
    browser.screenshot(&screenshots().join("demo.png"));
}
