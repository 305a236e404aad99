//! Tests of the bench as a user runs it: a small scenario against a real
//! server, and the HTML report's structure.

mod report;
mod server;
