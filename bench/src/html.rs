//! The self-contained HTML report.

use crate::report::Report;

pub fn render(report: &Report) -> String {
    format!("<pre>{}</pre>", crate::table::summary(report))
}
