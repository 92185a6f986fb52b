//! `handoff report RUN --html FILE` and `run --report FILE.html`: one self-contained page of a
//! run, read from the journal. Inline CSS, SVG drawn here ([`svg`]) and a little script for
//! the items table; nothing is fetched (a Content-Security-Policy forbids it), so the file
//! opens from disk, from a CI artifact or in a mail client's preview, where scripts do not
//! run: the header, the charts and the first page of items are plain HTML.
//!
//! Size: the items ride in the page as compact JSON arrays with repeated texts (error
//! messages, codes) stored once; inputs and outputs are one-line summaries, shorter for large
//! runs; past a megabyte the JSON is gzipped, so a 100,000-item report stays well under
//! 10 MB (docs/benchmarks-report.md).

mod model;
mod svg;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use self::model::{GroupSeries, Model};
use self::svg::{Frame, Swatch, duration, escape, number};
use super::ReportError;
use crate::journal::{Histogram, Journal, JournaledItem};

const CSS: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// Items shown as plain HTML before the script takes over (or when it cannot run).
const FIRST_PAGE: usize = 100;

/// Writes the report of `run_id`; the number of bytes written.
pub fn write(path: &Path, journal: &Journal, run_id: &str) -> Result<u64, ReportError> {
    let display = path.display().to_string();
    let model = Model::gather(journal, run_id).map_err(|source| ReportError::Journal { source })?;
    let items = Items::gather(journal, &model).map_err(|source| ReportError::Journal { source })?;
    let page = page(&model, &items);
    let io_error = |source| ReportError::Io { path: display.clone(), source };
    let mut file = std::fs::File::create(path).map_err(io_error)?;
    file.write_all(page.as_bytes()).map_err(io_error)?;
    Ok(page.len() as u64)
}

/// The items' JSON as the page carries it.
enum Payload {
    /// As it is, with `<` escaped so that it cannot end the `<script>` element it sits in.
    Json(String),
    /// Gzipped and in base64: the page inflates it with the browser's `DecompressionStream`.
    /// Item rows repeat their keys, codes and step names: a 100,000-item run's JSON of some
    /// 20 MB is 2-3 MB so.
    Gzip(String),
}

/// Items' JSON larger than this travels gzipped; smaller stays readable in the file.
const GZIP_ABOVE: usize = 1 << 20;

impl Payload {
    fn of(json: String) -> Self {
        use base64::Engine as _;
        if json.len() <= GZIP_ABOVE {
            return Payload::Json(json.replace('<', "\\u003c"));
        }
        let mut gz =
            flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 6), flate2::Compression::new(6));
        // Writing into memory cannot fail.
        let _ = gz.write_all(json.as_bytes());
        let bytes = gz.finish().unwrap_or_default();
        Payload::Gzip(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    fn script(&self) -> String {
        match self {
            Payload::Json(json) => {
                format!(r#"<script type="application/json" id="items-data">{json}</script>"#)
            }
            Payload::Gzip(data) => {
                format!(
                    r#"<script type="application/octet-stream" id="items-data" data-encoding="gzip+base64">{data}</script>"#
                )
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Payload::Json(text) | Payload::Gzip(text) => text.len(),
        }
    }
}

/// The items as the page carries them.
struct Items {
    /// `{"steps": [...], "texts": [...], "rows": [[...], ...]}`.
    payload: Payload,
    /// The first page of rows as HTML.
    first_rows: String,
    count: usize,
}

/// The summary budget of an item's input or output, in characters: a large run's report
/// keeps to 10 MB with shorter summaries.
fn summary_budget(items: i64) -> usize {
    if items > 20_000 { 120 } else { 240 }
}

impl Items {
    fn gather(journal: &Journal, model: &Model) -> Result<Self, crate::journal::JournalError> {
        let steps: Vec<&str> = model.steps.iter().map(|s| s.step.step_id.as_str()).collect();
        let total =
            model.steps.iter().map(|s| s.step.succeeded + s.step.failed + s.step.skipped).sum::<i64>();
        let budget = summary_budget(total);
        let mut texts: Vec<String> = Vec::new();
        let mut text_ids: HashMap<String, usize> = HashMap::new();
        let mut rows = String::new();
        let mut first_rows = String::new();
        let mut count = 0usize;
        journal.for_each_item(&model.run.id, |item: JournaledItem| {
            let step = steps.iter().position(|s| *s == item.step_id).unwrap_or(0);
            // Codes and messages repeat across thousands of items: each is stored once.
            let mut text = |value: &Option<String>| -> Value {
                let Some(value) = value else { return Value::Null };
                let next = texts.len();
                let id = *text_ids.entry(value.clone()).or_insert_with(|| {
                    texts.push(value.clone());
                    next
                });
                json!(id)
            };
            let (code, error) = (text(&item.error_code), text(&item.error));
            let input = summary(&item.input, budget);
            let output = summary(&item.output, budget);
            let row = json!([
                step,
                item.status,
                item.label,
                item.attempts,
                item.throttled,
                code,
                error,
                input,
                output,
                item.session
            ]);
            if count > 0 {
                rows.push(',');
            }
            rows.push_str(&row.to_string());
            if count < FIRST_PAGE {
                let code = item.error_code.as_deref().unwrap_or("");
                let _ = write!(
                    first_rows,
                    r#"<tr class="{status}"><td>{step}</td><td class="status">{status}</td><td>{label}</td><td class="num">{attempts}</td><td>{code}</td><td class="detail">{error}</td></tr>"#,
                    status = escape(&item.status),
                    step = escape(&item.step_id),
                    label = escape(&item.label),
                    attempts = item.attempts,
                    code = escape(code),
                    error = escape(item.error.as_deref().unwrap_or(&input)),
                );
            }
            count += 1;
        })?;
        let head = json!({ "steps": steps, "texts": texts });
        let head = head.to_string();
        // `{"steps":[..],"texts":[..]}` + `,"rows":[..]}`
        let json = format!("{},\"rows\":[{rows}]}}", &head[..head.len() - 1]);
        Ok(Items { payload: Payload::of(json), first_rows, count })
    }
}

/// A value in one line of at most `budget` characters: an object's fields as `key: value`.
fn summary(value: &Value, budget: usize) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(fields) => {
            let mut out = String::new();
            for (key, value) in fields {
                // Idempotency tokens say nothing to a reader, and a token is never shown.
                if value.is_null() || key.eq_ignore_ascii_case("client-token") || key == "ClientToken" {
                    continue;
                }
                if !out.is_empty() {
                    out.push_str(", ");
                }
                match value {
                    Value::String(s) => {
                        let _ = write!(out, "{key}: {s}");
                    }
                    other => {
                        let _ = write!(out, "{key}: {other}");
                    }
                }
                if out.chars().count() > budget {
                    break;
                }
            }
            out
        }
        other => other.to_string(),
    };
    if text.chars().count() <= budget {
        return text;
    }
    let mut cut: String = text.chars().take(budget.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn page(model: &Model, items: &Items) -> String {
    let run = &model.run;
    let mut out = String::with_capacity(items.payload.len() + 64 * 1024);
    let title = format!("{} · run {}", run.playbook, run.id);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="handoff {version}">
<title>{title}</title><style>{CSS}</style></head>
<body>{defs}
<header><h1>{playbook} <span class="run-id">run {id}</span></h1>
"#,
        version = env!("CARGO_PKG_VERSION"),
        title = escape(&title),
        defs = svg::DEFS,
        playbook = escape(&run.playbook),
        id = escape(&run.id),
    );
    header(&mut out, model);
    out.push_str(
        r##"<nav><a href="#timeline">Steps</a> <a href="#rates">Rate and quota</a> <a href="#latency">Latency</a> <a href="#failures">Failures</a> <a href="#items">Items</a></nav></header><main>"##,
    );
    timeline(&mut out, model);
    rates(&mut out, model);
    latency(&mut out, model);
    failures(&mut out, model);
    items_section(&mut out, items);
    let _ = write!(
        out,
        r#"</main><footer>Written by handoff {} from the journal. Secrets are masked as everywhere in handoff.</footer>
{}
<script>{SCRIPT}</script></body></html>
"#,
        env!("CARGO_PKG_VERSION"),
        items.payload.script()
    );
    out
}

fn header(out: &mut String, model: &Model) {
    let run = &model.run;
    let not_done: i64 = model.steps.iter().map(|s| s.step.not_done).sum();
    let exit = run.exit_code.map_or_else(|| "none yet".to_owned(), |c| c.to_string());
    let ended = run.ended_at.as_deref().unwrap_or("not ended");
    let _ = write!(
        out,
        r#"<dl class="facts">
<div><dt>Status</dt><dd class="status {status}" id="run-status">{status}</dd></div>
<div><dt>Exit</dt><dd id="exit">{exit}</dd></div>
<div><dt>Started</dt><dd>{started}</dd></div>
<div><dt>Ended</dt><dd>{ended}</dd></div>
<div><dt>Took</dt><dd>{took}</dd></div>
<div><dt>Host</dt><dd>{host}</dd></div>
<div><dt>Playbook file</dt><dd>{path}</dd></div>
<div><dt>Resumed</dt><dd id="resumes">{resumes}</dd></div>
</dl>
<ul class="counts" id="counts">
<li class="succeeded" data-count="succeeded"><b>{succeeded}</b> succeeded</li>
<li class="failed" data-count="failed"><b>{failed}</b> failed</li>
<li class="skipped" data-count="skipped"><b>{skipped}</b> skipped</li>
<li class="not_done" data-count="not_done"><b>{not_done}</b> not done</li>
</ul>
"#,
        status = escape(&run.status),
        started = escape(&run.started_at),
        ended = escape(ended),
        took = duration(model.span),
        host = escape(&run.host),
        path = escape(&run.path),
        resumes = run.resumes,
        succeeded = run.succeeded,
        failed = run.failed,
        skipped = run.skipped,
    );
}

fn timeline(out: &mut String, model: &Model) {
    out.push_str(r#"<section id="timeline"><h2>Steps</h2>"#);
    if model.steps.is_empty() {
        out.push_str("<p>No step finished.</p></section>");
        return;
    }
    const ROW: f64 = 28.0;
    let mut frame = Frame::new(960.0, 40.0 + ROW * model.steps.len() as f64, model.span, 1.0);
    frame.left = 12.0;
    frame.top = 8.0;
    frame.open(out, "timeline", "the steps on a time line, seconds from the run's start");
    frame.axes(out, &[], "", true);
    for (i, span) in model.steps.iter().enumerate() {
        let step = &span.step;
        let y = frame.top + i as f64 * ROW + 4.0;
        let (x0, x1) = (frame.x(span.start), frame.x(span.end));
        let text = format!(
            "{} ({}) {}: {} ok, {} failed, {} skipped{}",
            step.step_id,
            step.action,
            duration(span.end - span.start),
            step.succeeded,
            step.failed,
            step.skipped,
            if step.not_done > 0 { format!(", {} not done", step.not_done) } else { String::new() }
        );
        let (anchor, tx) = if x1 > frame.width * 0.6 { ("end", x0 - 4.0) } else { ("start", x1 + 4.0) };
        let (anchor, tx) =
            if anchor == "end" && x0 < frame.width * 0.4 { ("start", x0 + 4.0) } else { (anchor, tx) };
        let _ = write!(
            out,
            r#"<g class="step {status}" data-step="{id}"><rect x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{h}"><title>{text}</title></rect><text x="{tx:.1}" y="{ty:.1}" text-anchor="{anchor}">{text}</text></g>"#,
            status = escape(&step.status),
            id = escape(&step.step_id),
            w = (x1 - x0).max(2.0),
            h = ROW - 8.0,
            ty = y + ROW / 2.0,
            text = escape(&text),
        );
    }
    out.push_str("</svg>");
    if model.run.resumes > 0 {
        out.push_str(r#"<p class="note">The run was resumed: each step is shown as it last ran.</p>"#);
    }
    out.push_str("</section>");
}

fn rates(out: &mut String, model: &Model) {
    out.push_str(r#"<section id="rates"><h2>Rate and quota</h2>"#);
    if model.groups.is_empty() {
        out.push_str("<p>No AWS calls.</p></section>");
        return;
    }
    for group in &model.groups {
        rate_chart(out, model, group);
    }
    out.push_str("</section>");
}

fn rate_chart(out: &mut String, model: &Model, group: &GroupSeries) {
    let per_second = |n: &u32| f64::from(*n) / group.bucket;
    let sent: Vec<f64> = group.sent.iter().map(per_second).collect();
    let throttled: Vec<f64> = group.throttled.iter().map(per_second).collect();
    let limit_max = group.paces.iter().filter_map(|p| p.2).fold(0.0, f64::max);
    let sent_max = sent.iter().copied().fold(0.0, f64::max);
    // The rate in force may be far above anything sent (slow start probing an unknown
    // limit): the scale follows what was sent and the limit.
    let scale = f64::max(sent_max, limit_max).max(0.1) * 1.25;
    let y_ticks = svg::ticks(scale, 4);
    let frame = Frame::new(960.0, 240.0, model.span, *y_ticks.last().unwrap_or(&scale));
    let (total, refused) = (group.total_sent(), group.total_throttled());
    let share = if total > 0 { 100.0 * refused as f64 / total as f64 } else { 0.0 };
    let _ = write!(
        out,
        r#"<figure class="rate" data-group="{name}" data-sent="{total}" data-throttled="{refused}"><figcaption><b>{name}</b>: {total} calls sent, {refused} throttled ({share:.1}%); steps {steps}.</figcaption>"#,
        name = escape(&group.name),
        steps = escape(&group.steps.join(", ")),
    );
    frame.open(out, "chart", &format!("calls per second to {} against the limit", group.name));
    frame.axes(out, &y_ticks, "calls/s", true);
    frame.columns(out, "sent", &sent, group.bucket);
    frame.columns(out, "throttled", &throttled, group.bucket);
    let paces: Vec<(f64, Option<f64>)> =
        group.paces.iter().map(|(t, rate, _)| (*t, rate.map(|r| r.min(frame.y_max)))).collect();
    frame.step_line(out, "pace", &paces, model.span);
    let limits: Vec<(f64, Option<f64>)> = group.paces.iter().map(|(t, _, limit)| (*t, *limit)).collect();
    frame.step_line(out, "limit", &limits, model.span);
    out.push_str("</svg>");
    let limit =
        if limit_max > 0.0 { format!("limit, {}/s", number(limit_max)) } else { "limit (none known)".into() };
    svg::legend(
        out,
        &[
            (Swatch::Fill("sent"), format!("calls sent per second ({} buckets)", duration(group.bucket))),
            (Swatch::Fill("throttled"), "throttled answers per second".into()),
            (Swatch::Line("pace"), "the rate handoff allowed itself".into()),
            (Swatch::Line("limit"), limit),
        ],
    );
    out.push_str("</figure>");
}

fn latency(out: &mut String, model: &Model) {
    out.push_str(r#"<section id="latency"><h2>Latency per action</h2>"#);
    if model.latencies.is_empty() {
        out.push_str("<p>No calls were timed.</p></section>");
        return;
    }
    out.push_str(
        r#"<table class="latency"><thead><tr><th>action</th><th class="num">attempts</th><th class="num">failed</th><th class="num">median</th><th class="num">p90</th><th class="num">p99</th><th>distribution (log scale)</th></tr></thead><tbody>"#,
    );
    let ms = |h: &Histogram, q: f64| h.quantile_ms(q).map_or_else(String::new, |v| duration(v / 1000.0));
    for (action, histogram) in &model.latencies {
        let _ = write!(
            out,
            r#"<tr data-action="{a}"><td>{a}</td><td class="num">{count}</td><td class="num">{failed}</td><td class="num">{p50}</td><td class="num">{p90}</td><td class="num">{p99}</td><td>"#,
            a = escape(action),
            count = histogram.count,
            failed = histogram.failed,
            p50 = ms(histogram, 0.5),
            p90 = ms(histogram, 0.9),
            p99 = ms(histogram, 0.99),
        );
        distribution(out, action, histogram);
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></section>");
}

/// A histogram's buckets as columns, from the fastest bucket used to the slowest.
fn distribution(out: &mut String, action: &str, histogram: &Histogram) {
    let (Some(first), Some(last)) = (histogram.buckets.keys().next(), histogram.buckets.keys().next_back())
    else {
        return;
    };
    let (first, last) = (first.saturating_sub(1), last + 1);
    let most = histogram.buckets.values().copied().max().unwrap_or(1) as f64;
    let (width, height) = (320.0, 56.0);
    let slot = width / f64::from(last - first + 1);
    let _ = write!(
        out,
        r#"<svg class="histogram" viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img" aria-label="durations of {a}">"#,
        h = height + 14.0,
        a = escape(action)
    );
    for (bucket, n) in &histogram.buckets {
        let x = f64::from(bucket - first) * slot;
        let h = (*n as f64 / most * height).max(1.0);
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}"><title>{n} up to {upper}</title></rect>"#,
            y = height - h,
            w = (slot - 1.0).max(1.0),
            upper = duration(Histogram::upper_ms(*bucket) / 1000.0),
        );
    }
    let _ = write!(
        out,
        r#"<text x="0" y="{ty}" class="tick">{lo}</text><text x="{width}" y="{ty}" class="tick" text-anchor="end">{hi}</text></svg>"#,
        ty = height + 12.0,
        lo = duration(Histogram::upper_ms(first) / 1000.0),
        hi = duration(Histogram::upper_ms(last) / 1000.0),
    );
}

fn failures(out: &mut String, model: &Model) {
    out.push_str(r#"<section id="failures"><h2>Failures by error</h2>"#);
    if model.failures.is_empty() {
        out.push_str(r#"<p id="no-failures">No item failed.</p></section>"#);
        return;
    }
    out.push_str(r#"<table class="failures"><thead><tr><th>error code</th><th class="num">items</th><th>steps</th><th>for example</th></tr></thead><tbody>"#);
    for group in &model.failures {
        let code = group.code.as_deref().unwrap_or("(no code)");
        let _ = write!(
            out,
            r#"<tr data-code="{code}" data-count="{count}"><td><code>{code}</code></td><td class="num">{count}</td><td>{steps}</td><td class="detail">{example}</td></tr>"#,
            code = escape(code),
            count = group.count,
            steps = escape(&group.steps.join(", ")),
            example = escape(&group.example),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn items_section(out: &mut String, items: &Items) {
    let shown = items.count.min(FIRST_PAGE);
    let _ = write!(
        out,
        r#"<section id="items"><h2>Items</h2>
<form class="controls" id="filters" onsubmit="return false"><label>Status <select id="status"><option value="">any</option><option>succeeded</option><option>failed</option><option>skipped</option><option value="not_done">not done</option></select></label>
<label>Search <input id="search" type="search" placeholder="label, error, input or output" size="36"></label>
<button type="button" id="prev">Previous</button> <button type="button" id="next">Next</button></form>
<p id="shown" aria-live="polite">{shown} of {count} items{more}</p>
<table class="items"><thead><tr><th>step</th><th>status</th><th>label</th><th class="num">attempts</th><th>error code</th><th>error, or input</th></tr></thead>
<tbody id="rows">{rows}</tbody></table></section>"#,
        count = items.count,
        more =
            if items.count > shown { " (open the file in a browser to page, filter and search)" } else { "" },
        rows = items.first_rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_keep_to_their_budget() {
        let value = json!({"identifier": "engagement-invitation-1234", "catalog": "AWS", "none": null, "client-token": "t"});
        assert_eq!(summary(&value, 240), "identifier: engagement-invitation-1234, catalog: AWS");
        let cut = summary(&value, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…'));
        assert_eq!(summary(&Value::Null, 10), "");
        assert_eq!(summary(&json!([1, 2]), 10), "[1,2]");
    }
}
