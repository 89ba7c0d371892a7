//! The contract of `IdempotencyStore`: a key is claimed once, answered once, replayed until it
//! expires, refused for another request, and each user has keys of their own.

use std::sync::Arc;

use application::idempotency::{IdempotencyKey, IdempotencyPolicy};
use application::ports::{Begin, StoredResponse};
use domain::user::UserId;
use domain::Timestamp;

use super::{customer, customers, minutes, now, race, StoreFactory, Stores};

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).expect("a valid key")
}

fn policy() -> IdempotencyPolicy {
    IdempotencyPolicy::default()
}

fn answer(status: u16, body: &str) -> StoredResponse {
    StoredResponse {
        status,
        body: body.as_bytes().to_vec(),
    }
}

async fn begin(
    stores: &Stores,
    user: UserId,
    key_text: &str,
    fingerprint: &str,
    at: Timestamp,
) -> Begin {
    stores
        .idempotency
        .begin(user, &key(key_text), fingerprint, policy(), at)
        .await
        .expect("begin")
}

/// Begins and expects to hold the key; returns the attempt.
async fn started(
    stores: &Stores,
    user: UserId,
    key_text: &str,
    fingerprint: &str,
    at: Timestamp,
) -> i64 {
    match begin(stores, user, key_text, fingerprint, at).await {
        Begin::Started { attempt } => attempt,
        other => panic!("expected the key {key_text} to be claimed, got {other:?}"),
    }
}

/// Records the answer of the attempt claimed at `claimed_at`, expiring as the policy says.
async fn complete(
    stores: &Stores,
    user: UserId,
    key_text: &str,
    (attempt, claimed_at): (i64, Timestamp),
    response: StoredResponse,
) {
    let expires_at = policy().expiry_of_answer(claimed_at, response.status);
    stores
        .idempotency
        .complete(user, &key(key_text), attempt, response, expires_at)
        .await
        .expect("complete");
}

pub async fn an_idempotency_key_is_claimed_once_then_replayed(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let user = customer(&stores, "Sari Dewi").await.id;

    let attempt = started(&stores, user, "key-1", "fp-1", now()).await;
    assert_eq!(
        begin(&stores, user, "key-1", "fp-1", now()).await,
        Begin::InProgress,
        "a retry while the first runs"
    );
    assert_eq!(
        begin(&stores, user, "key-1", "fp-2", now()).await,
        Begin::Mismatch,
        "another request with the key, while the first runs"
    );

    // Exact bytes, however unusual.
    let body = "{\"booking_code\":\"BKG-ABCDE\",\"note\":\"sp\u{e4}ces  and\\nnewlines\"}";
    complete(&stores, user, "key-1", (attempt, now()), answer(201, body)).await;
    for later in [
        now(),
        now() + minutes(60 * 24) - chrono::Duration::seconds(1),
    ] {
        assert_eq!(
            begin(&stores, user, "key-1", "fp-1", later).await,
            Begin::Replay(answer(201, body)),
            "a retry within the day gets the first answer"
        );
    }
    assert_eq!(
        begin(&stores, user, "key-1", "fp-2", now()).await,
        Begin::Mismatch,
        "another request with an answered key"
    );
    // Other keys are untouched.
    started(&stores, user, "key-2", "fp-1", now()).await;
}

pub async fn idempotency_keys_are_per_user(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let sari = customer(&stores, "Sari Dewi").await.id;
    let bima = customer(&stores, "Bima Sakti").await.id;

    let saris = started(&stores, sari, "shared-key", "fp-sari", now()).await;
    started(&stores, bima, "shared-key", "fp-bima", now()).await;
    complete(
        &stores,
        sari,
        "shared-key",
        (saris, now()),
        answer(201, "{\"who\":\"sari\"}"),
    )
    .await;

    assert_eq!(
        begin(&stores, bima, "shared-key", "fp-bima", now()).await,
        Begin::InProgress,
        "Sari's answer is not Bima's"
    );
    assert_eq!(
        begin(&stores, sari, "shared-key", "fp-sari", now()).await,
        Begin::Replay(answer(201, "{\"who\":\"sari\"}"))
    );
}

pub async fn an_abandoned_key_runs_again(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let user = customer(&stores, "Sari Dewi").await.id;

    let attempt = started(&stores, user, "key-1", "fp-1", now()).await;
    stores
        .idempotency
        .abandon(user, &key("key-1"), attempt)
        .await
        .expect("abandon");
    let again = started(&stores, user, "key-1", "fp-1", now()).await;
    complete(&stores, user, "key-1", (again, now()), answer(200, "{}")).await;

    // Abandoning an answered key changes nothing.
    stores
        .idempotency
        .abandon(user, &key("key-1"), again)
        .await
        .expect("abandon");
    assert_eq!(
        begin(&stores, user, "key-1", "fp-1", now()).await,
        Begin::Replay(answer(200, "{}"))
    );
}

pub async fn a_dead_attempt_is_taken_over_and_its_late_answer_ignored(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let user = customer(&stores, "Sari Dewi").await.id;
    let takeover = now() + policy().takeover_after;

    let first = started(&stores, user, "key-1", "fp-1", now()).await;
    assert_eq!(
        begin(
            &stores,
            user,
            "key-1",
            "fp-1",
            takeover - chrono::Duration::seconds(1)
        )
        .await,
        Begin::InProgress,
        "not yet presumed dead"
    );
    let second = started(&stores, user, "key-1", "fp-1", takeover).await;
    assert_ne!(first, second, "the takeover is another attempt");

    // The first attempt comes back late: it may neither answer nor release the key.
    complete(
        &stores,
        user,
        "key-1",
        (first, now()),
        answer(201, "{\"late\":true}"),
    )
    .await;
    stores
        .idempotency
        .abandon(user, &key("key-1"), first)
        .await
        .expect("abandon");
    assert_eq!(
        begin(&stores, user, "key-1", "fp-1", takeover).await,
        Begin::InProgress,
        "the second attempt still holds the key"
    );
    complete(
        &stores,
        user,
        "key-1",
        (second, takeover),
        answer(409, "{\"code\":409}"),
    )
    .await;
    assert_eq!(
        begin(&stores, user, "key-1", "fp-1", takeover).await,
        Begin::Replay(answer(409, "{\"code\":409}"))
    );
}

pub async fn expired_idempotency_keys_are_unused_and_purged(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let user = customer(&stores, "Sari Dewi").await.id;
    let day = policy().ttl;

    let old = started(&stores, user, "old", "fp-1", now()).await;
    complete(
        &stores,
        user,
        "old",
        (old, now()),
        answer(201, "{\"old\":true}"),
    )
    .await;
    let recent = started(&stores, user, "recent", "fp-1", now() + minutes(60)).await;
    complete(
        &stores,
        user,
        "recent",
        (recent, now() + minutes(60)),
        answer(201, "{\"recent\":true}"),
    )
    .await;

    // A day on, the old key is as good as unused, even for another request.
    let reused = started(&stores, user, "old", "fp-2", now() + day).await;
    complete(
        &stores,
        user,
        "old",
        (reused, now() + day),
        answer(201, "{\"new\":true}"),
    )
    .await;
    assert_eq!(
        begin(&stores, user, "old", "fp-2", now() + day).await,
        Begin::Replay(answer(201, "{\"new\":true}"))
    );

    let purged = stores
        .idempotency
        .purge_expired(now() + day + minutes(60))
        .await
        .expect("purge");
    assert_eq!(purged, 1, "only the recent key has lived a day");
    assert_eq!(
        begin(&stores, user, "old", "fp-2", now() + day + minutes(60)).await,
        Begin::Replay(answer(201, "{\"new\":true}")),
        "a key reused a day later lives a day from then"
    );
    started(&stores, user, "recent", "fp-3", now() + day + minutes(60)).await;
}

pub async fn racing_for_one_idempotency_key_has_one_winner(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let people = customers(&stores, 2).await;
    let (sari, bima) = (people[0].id, people[1].id);

    let results = race(32, |index| {
        let keys = Arc::clone(&stores.idempotency);
        // Every other racer is Bima, whose key is his own.
        let user = if index % 2 == 0 { sari } else { bima };
        async move {
            let result = keys
                .begin(user, &key("same-key"), "fp-1", policy(), now())
                .await
                .expect("begin");
            (user, result)
        }
    })
    .await;

    for user in [sari, bima] {
        let mine: Vec<&Begin> = results
            .iter()
            .filter(|(who, _)| *who == user)
            .map(|(_, result)| result)
            .collect();
        let winners = mine
            .iter()
            .filter(|result| matches!(result, Begin::Started { .. }))
            .count();
        assert_eq!(winners, 1, "exactly one of {user}'s racers claims the key");
        assert!(
            mine.iter()
                .all(|result| matches!(result, Begin::Started { .. } | Begin::InProgress)),
            "the others are told it is in progress: {mine:?}"
        );
    }
}

pub async fn a_user_holds_a_bounded_number_of_live_idempotency_keys(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let people = customers(&stores, 2).await;
    let (hoarder, other) = (people[0].id, people[1].id);
    let bounded = IdempotencyPolicy {
        max_live_keys_per_user: 3,
        ..policy()
    };
    let claim = |user: UserId, key_text: &'static str, at: Timestamp| {
        let keys = Arc::clone(&stores.idempotency);
        async move {
            keys.begin(user, &key(key_text), "fp-1", bounded, at)
                .await
                .expect("begin")
        }
    };
    for (n, key_text) in ["k1", "k2", "k3"].into_iter().enumerate() {
        let attempt = match claim(hoarder, key_text, now()).await {
            Begin::Started { attempt } => attempt,
            other => panic!("key {n} was not claimed: {other:?}"),
        };
        complete(
            &stores,
            hoarder,
            key_text,
            (attempt, now()),
            answer(409, "{}"),
        )
        .await;
    }
    assert_eq!(claim(hoarder, "k4", now()).await, Begin::TooManyKeys);
    assert_eq!(
        claim(hoarder, "k1", now()).await,
        Begin::Replay(answer(409, "{}")),
        "a retry of a held key is never refused"
    );
    assert!(
        matches!(claim(other, "k4", now()).await, Begin::Started { .. }),
        "another user has keys of their own"
    );
    // Refusals are kept an hour: then their keys stop counting.
    let later = now() + bounded.refusal_ttl;
    assert!(matches!(
        claim(hoarder, "k4", later).await,
        Begin::Started { .. }
    ));
}

pub async fn refusals_are_kept_for_less_time_than_successes(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let user = customer(&stores, "Sari Dewi").await.id;
    let refused = started(&stores, user, "refused", "fp-1", now()).await;
    complete(
        &stores,
        user,
        "refused",
        (refused, now()),
        answer(409, "{}"),
    )
    .await;
    let booked = started(&stores, user, "booked", "fp-1", now()).await;
    complete(&stores, user, "booked", (booked, now()), answer(201, "{}")).await;
    let hour = policy().refusal_ttl;
    assert_eq!(
        begin(&stores, user, "refused", "fp-1", now() + hour - minutes(1)).await,
        Begin::Replay(answer(409, "{}"))
    );
    let purged = stores
        .idempotency
        .purge_expired(now() + hour)
        .await
        .expect("purge");
    assert_eq!(
        purged, 1,
        "the refusal is forgotten after an hour, the booking is not"
    );
    assert_eq!(
        begin(&stores, user, "booked", "fp-1", now() + hour).await,
        Begin::Replay(answer(201, "{}"))
    );
    assert!(matches!(
        begin(&stores, user, "refused", "fp-2", now() + hour).await,
        Begin::Started { .. }
    ));
}
