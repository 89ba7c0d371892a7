//! The PostgreSQL store writes a show's bookings and payments that arrive together as batches:
//! the contract's test of requests arriving together, with the batches it made observed.

use tests::postgres_db::PostgresStores;
use tests::store_contract::{
    requests_arriving_together_are_each_answered_on_their_own, StoreFactory,
};

/// `wartawa_sale_batch_requests`' count of batches, and of batches of one request.
fn batches() -> (u64, u64) {
    let rendered = adapters::metrics::render();
    let value = |prefix: &str| {
        rendered
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    (
        value("wartawa_sale_batch_requests_count "),
        value("wartawa_sale_batch_requests_bucket{le=\"1\"} "),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_arriving_together_are_written_in_batches_and_answered_each() {
    let Some(stores) = PostgresStores::new().await else {
        return;
    };
    adapters::metrics::handle();
    let (before, alone_before) = batches();
    requests_arriving_together_are_each_answered_on_their_own(&stores as &dyn StoreFactory).await;
    let (after, alone_after) = batches();
    let batched = (after - before) - (alone_after - alone_before);
    // 75 requests (30 booking together, 15, then 16 paying) in fewer transactions.
    assert!(after - before < 61, "{} batches", after - before);
    assert!(batched > 0, "no batch held more than one request");
}
