//! The self-contained HTML report: inline CSS and SVG, nothing fetched.

use std::fmt::Write;

use crate::chart::{self, escape, format_value, Row};
use crate::observations;
use crate::report::{Report, ScenarioResult};

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.ok { color: #2a7a2a; font-weight: bold; } .failed { color: #b00020; font-weight: bold; }
.chart text { font: 12px system-ui, sans-serif; fill: #222; }
.chart .chart-title { font-weight: bold; font-size: 13px; }
ul.problems { color: #b00020; }
";

/// The whole report as one HTML document.
pub fn render(report: &Report) -> String {
    let mut html = String::new();
    let verdict = if report.verified() {
        r#"<span class="ok">every scenario verified</span>"#
    } else {
        r#"<span class="failed">a scenario FAILED its correctness check</span>"#
    };
    let target = match &report.fsync {
        Some(fsync) => format!("{} (fsync {})", report.target, fsync),
        None => report.target.clone(),
    };
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Mamamia bench report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>Mamamia bench report</h1>\n<p>Target: <b>{}</b>; {} scenarios; {verdict}.</p>\n",
        escape(&target),
        report.results.len()
    );
    scenarios_table(&mut html, report);
    summary_table(&mut html, report);
    latency_table(&mut html, report);
    work_table(&mut html, report);
    charts(&mut html, report);
    observations_list(&mut html, report);
    correctness(&mut html, report);
    html.push_str("</body>\n</html>\n");
    html
}

fn scenarios_table(html: &mut String, report: &Report) {
    html.push_str("<h2>Scenarios</h2>\n<table>\n<tr><th>scenario</th><th>payload bytes</th><th>lease ms</th><th>wait ms</th><th>offered msg/s</th><th>retry rate</th><th>crash rate</th></tr>\n");
    let share = |rate: Option<f64>| match rate {
        Some(rate) => format!("{:.0}%", rate * 100.0),
        None => "-".into(),
    };
    for result in &report.results {
        let s = &result.scenario;
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.name),
            s.payload_bytes,
            s.lease_ms,
            s.wait_ms,
            s.rate.map_or("closed loop".into(), |rate| format!("{rate:.0}")),
            share(s.failure_rate),
            share(s.crash_rate),
        );
    }
    html.push_str("</table>\n");
}

fn summary_table(html: &mut String, report: &Report) {
    html.push_str("<h2>Throughput</h2>\n<table>\n<tr><th>scenario</th><th>msgs</th><th>producers × consumers</th><th>batch / max</th><th>produce msg/s</th><th>consume msg/s</th><th>efficiency msg/s per worker</th><th>max queue depth</th><th>max leases in flight</th><th>server CPU %</th><th>server RSS MiB</th></tr>\n");
    for result in &report.results {
        let s = &result.scenario;
        let (cpu, rss) = match &result.server {
            Some(server) => (
                format!("{:.0}", server.cpu_percent),
                format!("{:.1}", server.rss_bytes_max as f64 / (1 << 20) as f64),
            ),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{} × {}</td><td>{} / {}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{cpu}</td><td>{rss}</td></tr>",
            escape(&s.name),
            s.msgs,
            s.producers,
            s.consumers,
            s.batch,
            s.max,
            result.produce_per_second,
            result.consume_per_second,
            result.efficiency_per_second,
            result.queue_depth_max,
            result.leases_in_flight_max,
        );
    }
    html.push_str("</table>\n");
}

fn latency_table(html: &mut String, report: &Report) {
    html.push_str("<h2>Latency, produce → settle (ms)</h2>\n<table>\n<tr><th>scenario</th><th>load</th><th>samples</th><th>mean</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>\n");
    for result in &report.results {
        let latency = &result.latency;
        let ms = |us: u64| format_value(us as f64 / 1000.0);
        let load = match result.scenario.rate {
            Some(rate) => format!("open loop, {rate:.0} msg/s offered"),
            None => "closed loop (saturation)".into(),
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{load}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&result.scenario.name),
            latency.count,
            format_value(latency.mean_us / 1000.0),
            ms(latency.p50_us),
            ms(latency.p95_us),
            ms(latency.p99_us),
            ms(latency.max_us),
        );
    }
    html.push_str("</table>\n<p>Open-loop latency counts from each message's intended send time, so a stalled server is charged for the messages it kept from being sent (coordinated omission corrected, as wrk2 does).</p>\n");
}

fn work_table(html: &mut String, report: &Report) {
    if report.results.iter().all(|result| result.work.is_none()) {
        return;
    }
    html.push_str("<h2>Where the time goes, per message settled</h2>\n<table>\n<tr><th>scenario</th><th>fsyncs/s</th><th>messages per fsync</th><th>mean fsync µs</th><th>requests per message</th><th>server CPU µs</th><th>client CPU µs</th></tr>\n");
    let shown = |value: Option<f64>| value.map_or("-".to_owned(), format_value);
    for result in &report.results {
        let Some(rates) = result.work_rates() else {
            continue;
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&result.scenario.name),
            rates.fsyncs_per_second,
            shown(rates.messages_per_fsync),
            shown(rates.fsync_mean_us),
            format_value(rates.requests_per_message),
            shown(rates.server_cpu_us_per_message),
            shown(rates.client_cpu_us_per_message),
        );
    }
    html.push_str("</table>\n<p>The client is this bench's load generator, on the same machine when the server is local: both share its cores.</p>\n");
}

fn rows(report: &Report, values: impl Fn(&ScenarioResult) -> Vec<f64>) -> Vec<Row> {
    report
        .results
        .iter()
        .map(|result| Row {
            label: result.scenario.name.clone(),
            values: values(result),
        })
        .collect()
}

fn charts(html: &mut String, report: &Report) {
    html.push_str("<h2>Charts</h2>\n");
    let throughput = rows(report, |r| vec![r.produce_per_second, r.consume_per_second]);
    html.push_str(&chart::bars(
        "Throughput per scenario",
        "msg/s",
        &["produce", "consume"],
        &throughput,
    ));
    html.push('\n');
    let latency = rows(report, |r| {
        vec![
            r.latency.p50_us as f64 / 1000.0,
            r.latency.p99_us as f64 / 1000.0,
        ]
    });
    html.push_str(&chart::bars(
        "Latency per scenario",
        "ms",
        &["p50", "p99"],
        &latency,
    ));
    html.push('\n');
}

fn observations_list(html: &mut String, report: &Report) {
    html.push_str("<h2>Scaling observations</h2>\n<ul class=\"observations\">\n");
    for note in observations::observe(report) {
        let _ = writeln!(html, "<li>{}</li>", escape(&note));
    }
    html.push_str("</ul>\n");
}

fn correctness(html: &mut String, report: &Report) {
    html.push_str("<h2>Correctness</h2>\n<table>\n<tr><th>scenario</th><th>produced</th><th>settled once</th><th>duplicates</th><th>lost</th><th>server processed</th><th>server outstanding</th><th>retries</th><th>abandoned</th><th>verdict</th></tr>\n");
    for result in &report.results {
        let c = &result.correctness;
        let verdict = if c.verified {
            r#"<span class="ok">verified</span>"#
        } else {
            r#"<span class="failed">FAILED</span>"#
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
            escape(&result.scenario.name),
            c.produced,
            c.settled_once,
            c.duplicates,
            c.lost,
            c.server_processed,
            c.server_outstanding,
            result.retries,
            result.abandoned,
        );
    }
    html.push_str("</table>\n");
    for result in report
        .results
        .iter()
        .filter(|r| !r.correctness.problems.is_empty())
    {
        let _ = writeln!(
            html,
            "<p>{}:</p>\n<ul class=\"problems\">",
            escape(&result.scenario.name)
        );
        for problem in &result.correctness.problems {
            let _ = writeln!(html, "<li>{}</li>", escape(problem));
        }
        html.push_str("</ul>\n");
    }
}
