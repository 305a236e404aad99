//! Appends messages in batches: `cargo run --example producer -- [URL] [COUNT] [BATCH]`.

use mamamia_client::{Client, NewMessage};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), mamamia_client::Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:7780".to_owned());
    let count: u64 = args
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000);
    let batch: u64 = args
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100)
        .max(1);
    let client = Client::new(&url)?;
    let started = std::time::Instant::now();
    let mut sent = 0;
    while sent < count {
        let messages: Vec<NewMessage> = (sent..(sent + batch).min(count))
            .map(|number| {
                NewMessage::json(json!({ "order": number }))
                    .with_key(format!("customer-{}", number % 10))
            })
            .collect();
        let appended = client.append("orders", &messages).await?;
        sent += appended.count;
    }
    println!(
        "appended {sent} messages to 'orders' in {:?}",
        started.elapsed()
    );
    Ok(())
}
