//! An async client for the Mamamia REST API (SPEC §2).
//!
//! [`Client`] maps each endpoint to a method and every failure to a typed
//! [`Error`]; [`Consumer`] loops acquire → handler → settle, extending the
//! leases it holds while the handler runs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mamamia_client::Error> {
//! use mamamia_client::{Client, NewMessage};
//! let client = Client::new("http://127.0.0.1:7780")?;
//! let appended = client.append("orders", &[NewMessage::json(serde_json::json!({"id": 1}))]).await?;
//! println!("appended at {}", appended.first_index);
//! # Ok(()) }
//! ```

mod client;
mod consumer;
mod error;
mod types;

pub use client::{AcquireOptions, Client};
pub use consumer::{Consumer, Outcome};
pub use error::Error;
pub use types::*;
