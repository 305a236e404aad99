//! Inline SVG bar charts for the HTML report.
