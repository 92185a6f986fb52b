//! The charts' drawing: a plot frame with axes, lines, columns and legends, written as SVG
//! text. Charts are drawn here rather than by a charting library (docs/decisions, "HTML
//! report charts"): they are static, print as vectors, read without colour (every series
//! has its own line style or fill pattern, and a label), and carry their numbers as text.

use std::fmt::Write as _;

/// Escapes text for HTML and SVG, in content and in attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// About `n` round tick values from 0 to at least `max`.
pub fn ticks(max: f64, n: usize) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    let raw = max / n.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
    let count = (max / step).ceil() as usize;
    (0..=count).map(|i| i as f64 * step).collect()
}

/// Tick values for a time axis of `max` seconds: round minutes and hours where they fit.
pub fn time_ticks(max: f64, n: usize) -> Vec<f64> {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0,
        43200.0,
    ];
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    let raw = max / n.max(1) as f64;
    let step = STEPS.iter().copied().find(|s| *s >= raw).unwrap_or_else(|| (raw / 86400.0).ceil() * 86400.0);
    let count = (max / step).ceil() as usize;
    (0..=count).map(|i| i as f64 * step).collect()
}

/// A duration as a short label: `45s`, `2m30s`, `1h05m`, `850ms`.
pub fn duration(seconds: f64) -> String {
    if seconds < 1.0 && seconds > 0.0 {
        return format!("{:.0}ms", seconds * 1000.0);
    }
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 if s.is_multiple_of(60) => format!("{}m", s / 60),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A number without needless decimals: `3`, `0.5`, `0.25`, `12.3`.
pub fn number(value: f64) -> String {
    if value == value.round() && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The fill patterns and line styles charts use, once per page: hatching tells a series
/// apart in print and without colour.
pub const DEFS: &str = r##"<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fde0dc"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b3261e" stroke-width="3"/></pattern>
<pattern id="dots" width="5" height="5" patternUnits="userSpaceOnUse"><rect width="5" height="5" fill="#fff4d6"/><circle cx="2.5" cy="2.5" r="1.2" fill="#8a5a00"/></pattern>
</defs></svg>"##;

/// A plot area: `x` from 0 to `x_max`, `y` from 0 to `y_max`, inside margins for the axes.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub x_max: f64,
    pub y_max: f64,
}

impl Frame {
    pub fn new(width: f64, height: f64, x_max: f64, y_max: f64) -> Self {
        Self { width, height, left: 56.0, right: 16.0, top: 12.0, bottom: 30.0, x_max, y_max }
    }

    pub fn x(&self, value: f64) -> f64 {
        self.left
            + (value / self.x_max.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0)
                * (self.width - self.left - self.right)
    }

    pub fn y(&self, value: f64) -> f64 {
        let plot = self.height - self.top - self.bottom;
        self.top + plot - (value / self.y_max.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0) * plot
    }

    /// Opens the `<svg>` element; the caller closes it.
    pub fn open(&self, out: &mut String, class: &str, label: &str) {
        let _ = write!(
            out,
            r#"<svg class="{class}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}">"#,
            w = self.width,
            h = self.height,
            label = escape(label)
        );
    }

    /// Grid lines and labelled axes: time along x, `y_ticks` along y with `y_label`.
    pub fn axes(&self, out: &mut String, y_ticks: &[f64], y_label: &str, time: bool) {
        out.push_str(r#"<g class="axes">"#);
        for tick in y_ticks {
            let y = self.y(*tick);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{l}" x2="{r}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{tx}" y="{ty:.1}" text-anchor="end">{v}</text>"#,
                l = self.left,
                r = self.width - self.right,
                tx = self.left - 6.0,
                ty = y + 4.0,
                v = number(*tick)
            );
        }
        let x_ticks = if time { time_ticks(self.x_max, 8) } else { ticks(self.x_max, 8) };
        let base = self.height - self.bottom;
        for tick in x_ticks.iter().filter(|t| **t <= self.x_max * 1.0001) {
            let x = self.x(*tick);
            let label = if time { duration(*tick) } else { number(*tick) };
            let _ = write!(
                out,
                r#"<line class="axis" x1="{x:.1}" x2="{x:.1}" y1="{base}" y2="{b2}"/><text class="tick" x="{x:.1}" y="{ty}" text-anchor="middle">{label}</text>"#,
                b2 = base + 4.0,
                ty = base + 17.0
            );
        }
        let _ = write!(
            out,
            r#"<line class="axis" x1="{l}" x2="{r}" y1="{base}" y2="{base}"/><line class="axis" x1="{l}" x2="{l}" y1="{t}" y2="{base}"/><text class="axis-label" transform="translate(14 {mid:.1}) rotate(-90)" text-anchor="middle">{label}</text></g>"#,
            l = self.left,
            r = self.width - self.right,
            t = self.top,
            mid = self.top + (base - self.top) / 2.0,
            label = escape(y_label)
        );
    }

    /// A line through `points` that holds each value until the next (a rate in force is a
    /// step function of time), ending at `until`. `None` values break the line.
    pub fn step_line(&self, out: &mut String, class: &str, points: &[(f64, Option<f64>)], until: f64) {
        let mut path = String::new();
        let mut open = false;
        for (i, (t, value)) in points.iter().enumerate() {
            let end = points.get(i + 1).map_or(until, |next| next.0);
            match value {
                Some(v) => {
                    let (x0, x1, y) = (self.x(*t), self.x(end), self.y(*v));
                    let _ = write!(path, "{}{x0:.1},{y:.1}L{x1:.1},{y:.1}", if open { "L" } else { "M" });
                    open = true;
                }
                None => open = false,
            }
        }
        if !path.is_empty() {
            let _ = write!(out, r#"<path class="{class}" d="{path}"/>"#);
        }
    }

    /// Columns from 0, one per bucket of width `width` along x; zeros draw nothing.
    pub fn columns(&self, out: &mut String, class: &str, values: &[f64], width: f64) {
        let base = self.y(0.0);
        let _ = write!(out, r#"<g class="{class}">"#);
        for (i, value) in values.iter().enumerate().filter(|(_, v)| **v > 0.0) {
            let (x0, x1) = (self.x(i as f64 * width), self.x((i + 1) as f64 * width));
            let y = self.y(*value);
            let _ = write!(
                out,
                r#"<rect x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}"/>"#,
                w = (x1 - x0).max(0.8),
                h = (base - y).max(0.5)
            );
        }
        out.push_str("</g>");
    }
}

/// A legend entry: the swatch's CSS class and whether it is a line or a filled box.
#[derive(Debug, Clone, Copy)]
pub enum Swatch {
    Line(&'static str),
    Fill(&'static str),
}

/// A legend in HTML beside a chart: each entry's swatch drawn as the series is, and its text.
pub fn legend(out: &mut String, entries: &[(Swatch, String)]) {
    out.push_str(r#"<ul class="legend">"#);
    for (swatch, text) in entries {
        let svg = match swatch {
            Swatch::Line(class) => format!(r#"<path class="{class}" d="M2,7L30,7"/>"#),
            Swatch::Fill(class) => {
                format!(r#"<g class="{class}"><rect x="2" y="1" width="28" height="12"/></g>"#)
            }
        };
        let _ = write!(
            out,
            r#"<li><svg width="32" height="14" aria-hidden="true">{svg}</svg> {}</li>"#,
            escape(text)
        );
    }
    out.push_str("</ul>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(1.0, 4), [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(ticks(7.3, 4), [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(time_ticks(130.0, 6), [0.0, 30.0, 60.0, 90.0, 120.0, 150.0]);
        assert_eq!(time_ticks(0.0, 6), [0.0, 1.0]);
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(duration(45.0), "45s");
        assert_eq!(duration(150.0), "2m30s");
        assert_eq!(duration(3900.0), "1h05m");
        assert_eq!(duration(0.25), "250ms");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(12.345), "12.3");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"<script>"a"&'b'"#), "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;");
    }

    #[test]
    fn a_step_line_holds_each_value_and_breaks_on_none() {
        let frame = Frame::new(116.0, 142.0, 100.0, 10.0);
        let mut out = String::new();
        frame.step_line(&mut out, "s", &[(0.0, Some(5.0)), (50.0, None), (60.0, Some(10.0))], 100.0);
        assert_eq!(out, r#"<path class="s" d="M56.0,62.0L78.0,62.0M82.4,12.0L100.0,12.0"/>"#);
    }
}
