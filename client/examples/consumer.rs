//! Consumes `orders` as group `billing` until Ctrl-C:
//! `cargo run --example consumer -- [URL] [CONSUMER_NAME]`.

use mamamia_client::{Client, Consumer, Outcome};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), mamamia_client::Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:7780".to_owned());
    let name = args.next().unwrap_or_else(|| "worker-1".to_owned());
    let consumer = Consumer::new(Client::new(&url)?, "orders", "billing", &name);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let settled = consumer
        .run(
            |lease| async move {
                println!(
                    "{} (attempt {}): {:?}",
                    lease.index(),
                    lease.attempt,
                    lease.message.payload
                );
                Outcome::Processed
            },
            stop,
        )
        .await?;
    println!("settled {settled} messages; leases released");
    Ok(())
}
