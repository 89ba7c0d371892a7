//! The HTTP contract suite over the embedded memory store.

tests::http_suite_tests!(tests::http_harness::AppFactory::memory());
