//! The HTTP contract suite over PostgreSQL: the same checks as over the memory store, each on a
//! fresh database; second instances get their own connection pool, as separate processes would.

tests::http_suite_tests!(match tests::postgres_db::app_factory().await {
    Some(factory) => factory,
    None => return,
});
