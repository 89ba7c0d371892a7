//! The audit trail in PostgreSQL: each entry is inserted in the transaction of the command it
//! records, so that it commits or rolls back with that command.

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::PgConnection;

use application::ports::{AuditFilter, AuditLog, Page, Paged, StoreError};
use application::views::{AuditActor, AuditRecord};
use domain::audit::{AuditActionKind, AuditDetails, AuditEntry, AuditTargetType, AuditValue};
use domain::user::UserId;

use super::rows::AuditRow;
use super::{corrupt, store_error, PostgresStore};
use crate::audit_json::audit_value_json;

/// The details as the JSON object stored in `details`.
fn details_json(details: &AuditDetails) -> String {
    let object: Map<String, Value> = details
        .iter()
        .map(|(name, value)| (name.clone(), audit_value_json(value)))
        .collect();
    Value::Object(object).to_string()
}

/// The details of a stored `details` object: only text and whole numbers are ever written.
fn details_of(json: &str) -> Result<AuditDetails, StoreError> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(json) else {
        return Err(corrupt("audit details", json));
    };
    object
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) => AuditValue::Text(text),
                Value::Number(number) => AuditValue::Number(
                    number
                        .as_i64()
                        .ok_or_else(|| corrupt("audit detail", &number))?,
                ),
                other => return Err(corrupt("audit detail", other)),
            };
            Ok((name, value))
        })
        .collect()
}

/// Writes `entries` in the caller's transaction.
pub(super) async fn record(
    conn: &mut PgConnection,
    entries: &[AuditEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO audit_log (occurred_at, actor_id, action, target_type, target_id, details) \
         SELECT occurred_at, actor_id, action, target_type, target_id, details::jsonb \
         FROM unnest($1::timestamptz[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) \
         AS t(occurred_at, actor_id, action, target_type, target_id, details)",
    )
    .bind(entries.iter().map(|entry| entry.at).collect::<Vec<_>>())
    .bind(entries.iter().map(|entry| entry.actor.0).collect::<Vec<_>>())
    .bind(
        entries
            .iter()
            .map(|entry| entry.action.kind().as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        entries
            .iter()
            .map(|entry| entry.action.target_type().as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        entries
            .iter()
            .map(|entry| entry.action.target_id())
            .collect::<Vec<_>>(),
    )
    .bind(
        entries
            .iter()
            .map(|entry| details_json(&entry.action.details()))
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

impl AuditRow {
    fn into_record(self) -> Result<AuditRecord, StoreError> {
        Ok(AuditRecord {
            id: self.id,
            occurred_at: self.occurred_at,
            actor: AuditActor {
                id: UserId(self.actor_id),
                name: self.actor_name,
                email: self.actor_email,
            },
            action: AuditActionKind::parse(&self.action)
                .map_err(|_| corrupt("audit action", &self.action))?,
            target_type: AuditTargetType::parse(&self.target_type)
                .ok_or_else(|| corrupt("audit target type", &self.target_type))?,
            target_id: self.target_id,
            details: details_of(&self.details)?,
        })
    }
}

#[async_trait]
impl AuditLog for PostgresStore {
    async fn list(
        &self,
        filter: AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditRecord>, StoreError> {
        let action = filter.action.map(AuditActionKind::as_str);
        let mut conn = self.connection().await?;
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT a.id, a.occurred_at, a.actor_id, u.name AS actor_name, u.email AS actor_email, \
             a.action, a.target_type, a.target_id, a.details::text AS details \
             FROM audit_log a JOIN users u ON u.id = a.actor_id \
             WHERE ($1::text IS NULL OR a.action = $1) \
             ORDER BY a.occurred_at DESC, a.id DESC LIMIT $2 OFFSET $3",
        )
        .bind(action)
        .bind(i64::from(page.per_page))
        .bind(page.offset() as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error)?;
        let total: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_log WHERE ($1::text IS NULL OR action = $1)",
        )
        .bind(action)
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error)?;
        let items = rows
            .into_iter()
            .map(AuditRow::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Paged {
            items,
            total: total.max(0) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_stored_as_a_json_object_and_read_back_alike() {
        let details = AuditDetails::from([
            (
                "name".to_string(),
                AuditValue::Text("Malam \"Lucu\"".into()),
            ),
            ("tickets".to_string(), AuditValue::Number(3)),
        ]);
        let json = details_json(&details);
        assert_eq!(json, r#"{"name":"Malam \"Lucu\"","tickets":3}"#);
        assert_eq!(details_of(&json), Ok(details));
        assert_eq!(details_json(&AuditDetails::new()), "{}");
        assert!(details_of("[]").is_err());
        assert!(details_of(r#"{"x":1.5}"#).is_err());
    }
}
