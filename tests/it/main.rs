//! Workspace tests of Mamamia, in one binary (matklad's "one integration
//! test crate"): machine rules, error paths, properties and scenario traces.

mod harness;
mod machine_budget;
mod machine_errors;
mod machine_logging;
mod machine_properties;
mod machine_rules;
mod machine_scenarios;
