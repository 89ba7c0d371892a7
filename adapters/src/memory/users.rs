//! Accounts: unique emails and NIKs, and never a change that leaves no active admin.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;

use application::ports::{
    IdentifiersInUse, Page, Paged, StoreError, UserRepository, UserWriteError,
};
use domain::audit::{entries_for_user_change, AuditStamp};
use domain::user::{
    apply_change, removes_last_admin, Email, NewUser, Nik, User, UserChange, UserId,
};

use super::state::Sequences;
use super::MemoryStore;

/// The accounts and the indexes that keep emails and NIKs unique.
#[derive(Default)]
pub(super) struct Users {
    /// In id order, which is the order they registered in.
    by_id: BTreeMap<UserId, User>,
    /// Emails are lower-cased by `Email::parse`, so this index ignores case.
    ids_by_email: HashMap<String, UserId>,
    /// The accounts whose emails share a confusable skeleton (`Email::skeleton`).
    ids_by_email_skeleton: HashMap<String, BTreeSet<UserId>>,
    ids_by_nik: HashMap<String, UserId>,
    active_admins: BTreeSet<UserId>,
}

impl Users {
    pub fn exists(&self, id: UserId) -> bool {
        self.by_id.contains_key(&id)
    }

    pub fn get(&self, id: UserId) -> Option<&User> {
        self.by_id.get(&id)
    }

    /// The name a booking shows for its customer.
    pub fn name_of(&self, id: UserId) -> String {
        self.by_id
            .get(&id)
            .map(|user| user.name.as_str().to_string())
            .unwrap_or_default()
    }

    /// Whether another account than `except` has an email that `email` looks like.
    fn look_alike_of(&self, email: &Email, except: Option<UserId>) -> bool {
        self.ids_by_email_skeleton
            .get(&email.skeleton())
            .into_iter()
            .flatten()
            .filter(|id| Some(**id) != except)
            .filter_map(|id| self.by_id.get(id))
            .any(|other| email.looks_like(&other.email))
    }

    fn insert(&mut self, new: NewUser, ids: &mut Sequences) -> Result<User, UserWriteError> {
        if self.ids_by_email.contains_key(new.email.as_str()) {
            return Err(UserWriteError::EmailTaken);
        }
        if self.look_alike_of(&new.email, None) {
            return Err(UserWriteError::EmailLooksLikeAnother);
        }
        if let Some(nik) = &new.nik {
            if self.ids_by_nik.contains_key(nik.as_str()) {
                return Err(UserWriteError::NikTaken);
            }
        }
        let user = User {
            id: UserId(ids.next_user()),
            name: new.name,
            email: new.email,
            password_hash: new.password_hash,
            role: new.role,
            nik: new.nik,
            phone_number: new.phone_number,
            created_at: new.created_at,
            active: true,
            token_version: 0,
        };
        self.index(&user);
        self.by_id.insert(user.id, user.clone());
        Ok(user)
    }

    /// Applies the change; returns the account before and after it.
    fn update(&mut self, id: UserId, change: &UserChange) -> Result<(User, User), UserWriteError> {
        let before = self.by_id.get(&id).ok_or(UserWriteError::NotFound)?;
        let after = apply_change(before, change);
        if self.belongs_to_another(&self.ids_by_email, after.email.as_str(), id) {
            return Err(UserWriteError::EmailTaken);
        }
        if after.email != before.email && self.look_alike_of(&after.email, Some(id)) {
            return Err(UserWriteError::EmailLooksLikeAnother);
        }
        if let Some(nik) = &after.nik {
            if self.belongs_to_another(&self.ids_by_nik, nik.as_str(), id) {
                return Err(UserWriteError::NikTaken);
            }
        }
        let other_active_admins = self
            .active_admins
            .iter()
            .filter(|admin| **admin != id)
            .count();
        if removes_last_admin(before, &after, other_active_admins) {
            return Err(UserWriteError::LastAdmin);
        }
        let before = before.clone();
        self.unindex(&before);
        self.index(&after);
        self.by_id.insert(id, after.clone());
        Ok((before, after))
    }

    fn belongs_to_another(&self, index: &HashMap<String, UserId>, key: &str, id: UserId) -> bool {
        index.get(key).is_some_and(|owner| *owner != id)
    }

    fn index(&mut self, user: &User) {
        self.ids_by_email
            .insert(user.email.as_str().to_string(), user.id);
        self.ids_by_email_skeleton
            .entry(user.email.skeleton())
            .or_default()
            .insert(user.id);
        if let Some(nik) = &user.nik {
            self.ids_by_nik.insert(nik.as_str().to_string(), user.id);
        }
        if user.is_active_admin() {
            self.active_admins.insert(user.id);
        }
    }

    fn unindex(&mut self, user: &User) {
        self.ids_by_email.remove(user.email.as_str());
        let skeleton = user.email.skeleton();
        if let Some(ids) = self.ids_by_email_skeleton.get_mut(&skeleton) {
            ids.remove(&user.id);
            if ids.is_empty() {
                self.ids_by_email_skeleton.remove(&skeleton);
            }
        }
        if let Some(nik) = &user.nik {
            self.ids_by_nik.remove(nik.as_str());
        }
        self.active_admins.remove(&user.id);
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn insert(&self, user: NewUser) -> Result<User, UserWriteError> {
        let mut state = self.locked()?;
        let state = &mut *state;
        state.users.insert(user, &mut state.ids)
    }

    async fn find(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.locked()?.users.by_id.get(&id).cloned())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let state = self.locked()?;
        let user = state
            .users
            .ids_by_email
            .get(email.as_str())
            .and_then(|id| state.users.by_id.get(id));
        Ok(user.cloned())
    }

    async fn identifiers_in_use(
        &self,
        email: &Email,
        nik: Option<Nik>,
    ) -> Result<IdentifiersInUse, StoreError> {
        let state = self.locked()?;
        Ok(IdentifiersInUse {
            email: state.users.ids_by_email.contains_key(email.as_str()),
            email_look_alike: state.users.look_alike_of(email, None),
            nik: nik.is_some_and(|nik| state.users.ids_by_nik.contains_key(nik.as_str())),
        })
    }

    async fn list(&self, page: Page) -> Result<Paged<User>, StoreError> {
        let state = self.locked()?;
        let items = state
            .users
            .by_id
            .values()
            .skip(page.offset())
            .take(page.per_page as usize)
            .cloned()
            .collect();
        Ok(Paged {
            items,
            total: state.users.by_id.len() as u64,
        })
    }

    async fn update(
        &self,
        id: UserId,
        change: UserChange,
        audit: Option<AuditStamp>,
    ) -> Result<User, UserWriteError> {
        let mut state = self.locked()?;
        if let Some(stamp) = &audit {
            state.check_actor(stamp)?;
        }
        let (before, after) = state.users.update(id, &change)?;
        if let Some(stamp) = audit {
            state
                .audit
                .record(entries_for_user_change(stamp, &before, &after));
        }
        Ok(after)
    }
}
