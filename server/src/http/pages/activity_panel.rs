//! "What was done": a grant's CloudTrail activity as the request page and the break-glass
//! review show it (`activity.html`'s one macro serves both), with a chart of calls per minute
//! drawn as inline SVG on the server (no script, nothing loaded from elsewhere).
use crate::{
    domain::format_millis,
    workflows::activity::{ActivityReport, ActivityStatus},
};

/// The chart's drawing area, in SVG units.
const CHART_WIDTH: f64 = 600.0;
const CHART_HEIGHT: f64 = 60.0;
/// At most this many bars: a longer window groups several minutes into one.
const MAX_BARS: i64 = 240;
/// The write calls listed on the page (the API has all that were kept).
const WRITES_SHOWN: usize = 100;

pub struct ActivityPanel {
    pub status: &'static str,
    /// The counts in one sentence, once something was collected.
    pub headline: Option<String>,
    /// Why nothing (or not everything) is shown: the reason, or the last failure.
    pub notes: Vec<String>,
    /// (action, calls, errors, read or write, sensitive)
    pub actions: Vec<(String, u64, u64, &'static str, bool)>,
    pub errors: Vec<(String, u64)>,
    pub source_ips: Vec<(String, u64)>,
    /// (x, width, height, title) of each bar.
    pub bars: Vec<(f64, f64, f64, String)>,
    pub chart_caption: String,
    /// (time, action, error code, sensitive) of the first write calls.
    pub writes: Vec<(String, String, String, bool)>,
    pub writes_not_listed: u64,
}

impl ActivityPanel {
    /// The panel, unless there is nothing to say (no CloudTrail here, no AWS role, no grant).
    pub fn shown(r: ActivityReport) -> Option<Self> {
        r.applies.then(|| Self::from(r))
    }
}

impl From<ActivityReport> for ActivityPanel {
    fn from(r: ActivityReport) -> Self {
        let mut notes: Vec<String> = r.reason.into_iter().collect();
        if let (Some(error), Some(at)) = (&r.last_error, r.failed_at) {
            notes.push(format!(
                "The CloudTrail logs could not be read at {}: {error}. Elevate tries again.",
                format_millis(at)
            ));
        }
        let mut panel = ActivityPanel {
            status: r.status.as_str(),
            headline: None,
            notes,
            actions: Vec::new(),
            errors: Vec::new(),
            source_ips: Vec::new(),
            bars: Vec::new(),
            chart_caption: String::new(),
            writes: Vec::new(),
            writes_not_listed: 0,
        };
        let (Some(a), Some(from), Some(to)) = (r.activity, r.window_from, r.window_to) else { return panel };
        let first_last = match (a.first_call_at, a.last_call_at) {
            (Some(first), Some(last)) => format!("; first {}, last {}", format_millis(first), format_millis(last)),
            _ => String::new(),
        };
        panel.headline = Some(format!(
            "{} calls from {} to {}: {} reads, {} writes ({} sensitive), {} console sign-ins, {} refused or failed{first_last}{}",
            a.calls,
            format_millis(from),
            format_millis(to),
            a.reads,
            a.writes,
            a.sensitive_writes(),
            a.console_sign_ins,
            a.errors.values().sum::<u64>(),
            if r.status == ActivityStatus::Complete { "." } else { " so far." },
        ));
        if !a.unreadable_files.is_empty() {
            panel
                .notes
                .push(format!("Skipped log files that are not CloudTrail's: {}.", a.unreadable_files.join(", ")));
        }
        panel.actions = a
            .actions
            .iter()
            .map(|x| {
                let kind = if x.read_only { "read" } else { "write" };
                (format!("{}:{}", x.service, x.action), x.calls, x.errors, kind, x.sensitive)
            })
            .collect();
        panel.errors = a.errors.clone().into_iter().collect();
        panel.source_ips = a.source_ips.clone().into_iter().collect();
        (panel.bars, panel.chart_caption) = chart(&a.calls_per_minute, from, to);
        let sensitive = |service: &str, action: &str| {
            a.actions.iter().any(|x| x.sensitive && x.service == service && x.action == action)
        };
        panel.writes = a
            .write_records
            .iter()
            .take(WRITES_SHOWN)
            .map(|w| {
                let service = w["eventSource"].as_str().unwrap_or_default().trim_end_matches(".amazonaws.com");
                let action = w["eventName"].as_str().unwrap_or_default();
                let time = w["eventTime"].as_str().unwrap_or_default().to_owned();
                let error = w["errorCode"].as_str().unwrap_or_default().to_owned();
                (time, format!("{service}:{action}"), error, sensitive(service, action))
            })
            .collect();
        panel.writes_not_listed = a.writes.saturating_sub(panel.writes.len() as u64);
        panel
    }
}

/// Bars of calls per minute (or per several minutes, for a long window) from `from` to `to`.
fn chart(
    per_minute: &std::collections::BTreeMap<i64, u64>,
    from: i64,
    to: i64,
) -> (Vec<(f64, f64, f64, String)>, String) {
    let first_minute = from - from.rem_euclid(60_000);
    let minutes = ((to - first_minute) / 60_000 + 1).max(1);
    let per_bar = (minutes + MAX_BARS - 1) / MAX_BARS;
    let bars = (minutes + per_bar - 1) / per_bar;
    let mut counts = vec![0u64; usize::try_from(bars).unwrap_or(0)];
    for (minute, calls) in per_minute {
        let i = usize::try_from((minute - first_minute) / 60_000 / per_bar).unwrap_or(0);
        if let Some(c) = counts.get_mut(i) {
            *c += calls;
        }
    }
    let highest = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let width = CHART_WIDTH / bars as f64;
    let drawn = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| {
            let start = first_minute + i as i64 * per_bar * 60_000;
            let title = format!("{c} calls from {}", format_millis(start));
            (i as f64 * width, width.max(1.0), (*c as f64 / highest) * CHART_HEIGHT, title)
        })
        .collect();
    let unit = if per_bar == 1 { "minute".to_owned() } else { format!("{per_bar} minutes") };
    (drawn, format!("Calls per {unit}, highest {}", highest as u64))
}
