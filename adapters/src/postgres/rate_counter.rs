//! The throttles' windows in PostgreSQL, shared by every process over the database: an
//! UNLOGGED table (counts need no crash safety, and writing no WAL keeps a hit cheap on the
//! booking path), one upsert per hit at the database's clock.

use std::time::Duration;

use async_trait::async_trait;

use application::ports::{RateCounter, StoreError, WindowCount};

use super::{store_error, PostgresStore};

/// `(count, seconds until the window ends)`.
type Row = (i32, f64);

fn window_count((count, ends_in): Row) -> WindowCount {
    WindowCount {
        count: u32::try_from(count).unwrap_or(0),
        ends_in: Duration::from_secs_f64(ends_in.max(0.0)),
    }
}

#[async_trait]
impl RateCounter for PostgresStore {
    async fn hit(&self, key: &str, window: Duration) -> Result<WindowCount, StoreError> {
        let mut conn = self.connection().await?;
        let row: Row = sqlx::query_as(
            "INSERT INTO rate_windows AS w (key, started, count) VALUES ($1, now(), 1) \
             ON CONFLICT (key) DO UPDATE SET \
               started = CASE WHEN w.started <= now() - make_interval(secs => $2) \
                              THEN now() ELSE w.started END, \
               count = CASE WHEN w.started <= now() - make_interval(secs => $2) \
                            THEN 1 ELSE LEAST(w.count, 2147483646) + 1 END \
             RETURNING count, \
               extract(epoch FROM started + make_interval(secs => $2) - now())::float8",
        )
        .bind(key)
        .bind(window.as_secs_f64())
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error)?;
        conn.finish().await?;
        Ok(window_count(row))
    }

    async fn peek(&self, key: &str, window: Duration) -> Result<WindowCount, StoreError> {
        let mut conn = self.connection().await?;
        let row: Option<Row> = sqlx::query_as(
            "SELECT count, extract(epoch FROM started + make_interval(secs => $2) - now())::float8 \
             FROM rate_windows WHERE key = $1 AND started > now() - make_interval(secs => $2)",
        )
        .bind(key)
        .bind(window.as_secs_f64())
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
        Ok(row.map_or(WindowCount::NONE, window_count))
    }

    async fn forget_ended(&self, older_than: Duration) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        let forgotten = sqlx::query(
            "DELETE FROM rate_windows WHERE started < now() - make_interval(secs => $1)",
        )
        .bind(older_than.as_secs_f64())
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
        conn.finish().await?;
        Ok(forgotten.rows_affected())
    }
}
