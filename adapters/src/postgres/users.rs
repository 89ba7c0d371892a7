//! Accounts in PostgreSQL.

use async_trait::async_trait;

use application::ports::{
    IdentifiersInUse, Page, Paged, StoreError, UserRepository, UserWriteError,
};
use domain::audit::{entries_for_user_change, AuditStamp};
use domain::user::{
    apply_change, removes_last_admin, Email, NewUser, Nik, User, UserChange, UserId,
};

use super::audit::record;
use super::rows::{user_columns, UserRow};
use super::{store_error, violated_unique, PostgresStore};
use sqlx::{PgConnection, PgPool};

/// A write that broke a uniqueness rule of accounts.
fn user_write_error(error: sqlx::Error) -> UserWriteError {
    match violated_unique(&error) {
        Some("users_email_key") => UserWriteError::EmailTaken,
        Some("users_nik_key") => UserWriteError::NikTaken,
        _ => UserWriteError::Store(store_error(error)),
    }
}

/// Whether a change could leave the event without an active admin, so that the admins must be
/// locked before it is decided.
fn may_remove_an_admin(change: &UserChange) -> bool {
    match change {
        UserChange::Deactivate => true,
        UserChange::Profile(profile) => profile.role.is_some(),
        UserChange::Password { .. } | UserChange::MakeAdmin { .. } => false,
    }
}

/// The namespace of the advisory locks that serialise writes of emails with one skeleton.
const EMAIL_SKELETON_LOCKS: i32 = 7_201;

/// Whether an account other than `except` has an email that `email` looks like
/// (`Email::looks_like`). With `lock`, writes of emails of the same skeleton wait for this
/// transaction, so that two look-alikes cannot both pass the check.
async fn look_alike_exists(
    conn: &mut PgConnection,
    email: &Email,
    except: Option<UserId>,
    lock: bool,
) -> Result<bool, StoreError> {
    let skeleton = email.skeleton();
    if lock {
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(EMAIL_SKELETON_LOCKS)
            .bind(&skeleton)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    }
    let others: Vec<String> =
        sqlx::query_scalar("SELECT email FROM users WHERE email_skeleton = $1 AND id <> $2")
            .bind(&skeleton)
            .bind(except.map_or(0, |id| id.0))
            .fetch_all(&mut *conn)
            .await
            .map_err(store_error)?;
    Ok(others
        .iter()
        .filter_map(|other| Email::parse(other).ok())
        .any(|other| email.looks_like(&other)))
}

/// Fills in the skeleton of accounts made before skeletons were kept; run after migrating.
pub(super) async fn fill_in_email_skeletons(pool: &PgPool) -> Result<u64, StoreError> {
    let missing: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, email FROM users WHERE email_skeleton IS NULL")
            .fetch_all(pool)
            .await
            .map_err(store_error)?;
    let mut filled = 0;
    for (id, email) in missing {
        let Ok(email) = Email::parse(&email) else {
            continue;
        };
        sqlx::query(
            "UPDATE users SET email_skeleton = $2 WHERE id = $1 AND email_skeleton IS NULL",
        )
        .bind(id)
        .bind(email.skeleton())
        .execute(pool)
        .await
        .map_err(store_error)?;
        filled += 1;
    }
    Ok(filled)
}

#[async_trait]
impl UserRepository for PostgresStore {
    async fn insert(&self, user: NewUser) -> Result<User, UserWriteError> {
        let mut tx = self.transaction().await?;
        if look_alike_exists(&mut tx, &user.email, None, true).await? {
            return Err(UserWriteError::EmailLooksLikeAnother);
        }
        let row: UserRow = sqlx::query_as(concat!(
            "INSERT INTO users (name, email, password_hash, role, nik, phone_number, created_at, email_skeleton) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            user_columns!()
        ))
        .bind(user.name.as_str())
        .bind(user.email.as_str())
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.nik.as_ref().map(|nik| nik.as_str()))
        .bind(user.phone_number.as_ref().map(|phone| phone.as_str()))
        .bind(user.created_at)
        .bind(user.email.skeleton())
        .fetch_one(&mut *tx)
        .await
        .map_err(user_write_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(row.into_user()?)
    }

    async fn find(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *self.connection().await?)
        .await
        .map_err(store_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&mut *self.connection().await?)
        .await
        .map_err(store_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn identifiers_in_use(
        &self,
        email: &Email,
        nik: Option<Nik>,
    ) -> Result<IdentifiersInUse, StoreError> {
        let mut conn = self.connection().await?;
        let (taken, nik): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1), \
                    EXISTS (SELECT 1 FROM users WHERE nik = $2)",
        )
        .bind(email.as_str())
        .bind(nik.as_ref().map(|nik| nik.as_str()))
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error)?;
        Ok(IdentifiersInUse {
            email: taken,
            email_look_alike: look_alike_exists(&mut conn, email, None, false).await?,
            nik,
        })
    }

    async fn list(&self, page: Page) -> Result<Paged<User>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY id LIMIT $1 OFFSET $2"
        ))
        .bind(i64::from(page.per_page))
        .bind(page.offset() as i64)
        .fetch_all(&mut *self.connection().await?)
        .await
        .map_err(store_error)?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(store_error)?;
        let items = rows
            .into_iter()
            .map(UserRow::into_user)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Paged {
            items,
            total: total.max(0) as u64,
        })
    }

    async fn update(
        &self,
        id: UserId,
        change: UserChange,
        audit: Option<AuditStamp>,
    ) -> Result<User, UserWriteError> {
        let mut tx = self.transaction().await?;
        // Two admins demoting each other at once must not both succeed: lock every active admin,
        // in id order, before reading the one being changed.
        let active_admins: Vec<i64> = if may_remove_an_admin(&change) {
            sqlx::query_scalar(
                "SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
        } else {
            Vec::new()
        };
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1 FOR UPDATE"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let before = row.ok_or(UserWriteError::NotFound)?.into_user()?;
        let after = apply_change(&before, &change);
        if after.email != before.email
            && look_alike_exists(&mut tx, &after.email, Some(id), true).await?
        {
            return Err(UserWriteError::EmailLooksLikeAnother);
        }
        let other_active_admins = active_admins.iter().filter(|admin| **admin != id.0).count();
        if may_remove_an_admin(&change) && removes_last_admin(&before, &after, other_active_admins)
        {
            return Err(UserWriteError::LastAdmin);
        }
        let row: UserRow = sqlx::query_as(concat!(
            "UPDATE users SET name = $2, email = $3, password_hash = $4, role = $5, nik = $6, phone_number = $7, \
             active = $8, token_version = $9, email_skeleton = $10 WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id.0)
        .bind(after.name.as_str())
        .bind(after.email.as_str())
        .bind(&after.password_hash)
        .bind(after.role.as_str())
        .bind(after.nik.as_ref().map(|nik| nik.as_str()))
        .bind(after.phone_number.as_ref().map(|phone| phone.as_str()))
        .bind(after.active)
        .bind(after.token_version)
        .bind(after.email.skeleton())
        .fetch_one(&mut *tx)
        .await
        .map_err(user_write_error)?;
        if let Some(stamp) = audit {
            record(&mut tx, &entries_for_user_change(stamp, &before, &after)).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(row.into_user()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::user::{ProfileChange, Role};

    #[test]
    fn only_role_changes_and_deactivation_lock_the_admins() {
        assert!(may_remove_an_admin(&UserChange::Deactivate));
        assert!(may_remove_an_admin(&UserChange::Profile(ProfileChange {
            role: Some(Role::Customer),
            ..Default::default()
        })));
        assert!(!may_remove_an_admin(&UserChange::Profile(
            ProfileChange::default()
        )));
        assert!(!may_remove_an_admin(&UserChange::Password {
            hash: "h".into()
        }));
    }
}
