//! Inline SVG bar charts for the HTML report: no script, no fetch.

use std::fmt::Write;

/// Pixels of one bar, the gap between scenarios, and the label column.
const BAR_HEIGHT: usize = 14;
const ROW_GAP: usize = 10;
const LABEL_WIDTH: usize = 230;
const PLOT_WIDTH: usize = 420;
const VALUE_WIDTH: usize = 110;
/// Colours of the series, in order (and again, past the last).
const COLOURS: [&str; 3] = ["#3a7bd5", "#e07b39", "#7a9e3b"];

/// One labelled group of bars, one value per series.
pub struct Row {
    pub label: String,
    pub values: Vec<f64>,
}

/// A horizontal bar chart: a group of bars per row, one per series,
/// each with its value written beside it in `unit`.
pub fn bars(title: &str, unit: &str, series: &[&str], rows: &[Row]) -> String {
    let largest = rows
        .iter()
        .flat_map(|row| row.values.iter().copied())
        .filter(|value| value.is_finite())
        .fold(0.0_f64, f64::max);
    let row_height = series.len().max(1) * BAR_HEIGHT + ROW_GAP;
    let height = 40 + rows.len() * row_height;
    let width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{title}">"#,
        title = escape(title)
    );
    let _ = write!(
        svg,
        r#"<text x="0" y="14" class="chart-title">{}</text>"#,
        escape(title)
    );
    for (position, name) in series.iter().enumerate() {
        let x = LABEL_WIDTH + position * 120;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="22" width="10" height="10" fill="{}"/><text x="{}" y="31" class="legend">{}</text>"#,
            COLOURS[position % COLOURS.len()],
            x + 14,
            escape(name)
        );
    }
    for (position, row) in rows.iter().enumerate() {
        let top = 40 + position * row_height;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="label" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8,
            top + BAR_HEIGHT,
            escape(&row.label)
        );
        for (index, value) in row.values.iter().enumerate() {
            let y = top + index * BAR_HEIGHT;
            let length = if largest > 0.0 && value.is_finite() {
                (value / largest * PLOT_WIDTH as f64).max(1.0)
            } else {
                0.0
            };
            let _ = write!(
                svg,
                r#"<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{}" class="value">{} {}</text>"#,
                BAR_HEIGHT - 2,
                COLOURS[index % COLOURS.len()],
                LABEL_WIDTH as f64 + length + 4.0,
                y + BAR_HEIGHT - 3,
                format_value(*value),
                escape(unit)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Three significant digits at most, thousands without decimals.
pub fn format_value(value: f64) -> String {
    if !value.is_finite() {
        "-".into()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// Text made safe inside HTML and SVG elements and attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_config_cannot_inject_markup() {
        let svg = bars(
            "t",
            "ms",
            &["a"],
            &[Row {
                label: "<script>x</script>".into(),
                values: vec![1.0],
            }],
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
    }
}
