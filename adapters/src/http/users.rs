//! `/api/users`: registration, login, profiles, passwords, deactivation and what a user holds.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use application::users::{
    ChangePasswordError, LoginError, PasswordChange, ProfileUpdate, Registration,
};
use domain::user::{User, UserId};
use poem::Request;

use super::bookings::BookingResponse;
use super::error::{error_responses, RetryAfter};
use super::events::{example_time, EventResponse};
use super::fields::Text;
use super::language::Localized;
use super::limits::{Throttled, Throttles};
use super::pictures::PictureLinks;
use super::rules::{
    EmailAddress, NewPassword, NikNumber, OrNull, PersonName, PhoneNumber, RoleName,
};
use super::time::VenueTime;
use super::{
    page_of, page_or_everything, patch_field, BearerToken, PageParam, PerPageParam, Presentation,
    Services, Tag,
};

/// An account. Never carries a password hash.
#[derive(Object)]
#[oai(example)]
pub struct UserResponse {
    id: i64,
    name: String,
    email: String,
    role: Text<RoleName>,
    /// Indonesian national identity number (16 digits), if given.
    #[oai(nullable)]
    nik: Option<String>,
    #[oai(nullable)]
    phone_number: Option<String>,
    /// False once an admin has deactivated the account.
    is_active: bool,
    created_at: VenueTime,
}

impl UserResponse {
    /// The account, its times at the venue's offset.
    pub fn new(user: &User, venue_offset: chrono::FixedOffset) -> Self {
        UserResponse {
            id: user.id.0,
            name: user.name.as_str().to_string(),
            email: user.email.as_str().to_string(),
            role: user.role.as_str().into(),
            nik: user.nik.as_ref().map(|nik| nik.as_str().to_string()),
            phone_number: user
                .phone_number
                .as_ref()
                .map(|phone| phone.as_str().to_string()),
            is_active: user.active,
            created_at: VenueTime::new(user.created_at, venue_offset),
        }
    }
}

impl poem_openapi::types::Example for UserResponse {
    /// The account `RegisterRequest`'s example makes.
    fn example() -> Self {
        UserResponse {
            id: 7,
            name: "Sari Dewi".into(),
            email: "sari@example.com".into(),
            role: "customer".into(),
            nik: Some("3171234567890001".into()),
            phone_number: Some("081234567890".into()),
            is_active: true,
            created_at: example_time("2026-11-02T10:15:00+07:00"),
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct RegisterRequest {
    /// 3 to 100 characters (at least 3 without the spaces around).
    name: Text<PersonName>,
    /// Unique, ignoring case and look-alike letters.
    email: Text<EmailAddress>,
    /// 8 characters to 72 bytes.
    password: Text<NewPassword>,
    /// Optional (blank or left out: none); exactly 16 digits, unique.
    #[oai(nullable)]
    nik: Option<Text<NikNumber>>,
    /// Optional (blank or left out: none); 10 to 15 digits, a leading `+` allowed.
    #[oai(nullable)]
    phone_number: Option<Text<PhoneNumber>>,
}

impl poem_openapi::types::Example for RegisterRequest {
    fn example() -> Self {
        RegisterRequest {
            name: "Sari Dewi".into(),
            email: "sari@example.com".into(),
            password: "rahasia-sekali".into(),
            nik: Some("3171234567890001".into()),
            phone_number: Some("081234567890".into()),
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct LoginRequest {
    email: Text,
    password: Text,
}

impl poem_openapi::types::Example for LoginRequest {
    fn example() -> Self {
        LoginRequest {
            email: "sari@example.com".into(),
            password: "rahasia-sekali".into(),
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct LoginResponse {
    message: String,
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    /// Always `"Bearer"`.
    token_type: String,
    /// Seconds until the token expires.
    expires_in: i64,
    user: UserResponse,
}

impl poem_openapi::types::Example for LoginResponse {
    /// A token for a day (the default), issued on 20 December 2026 at 14:00 (+07:00).
    fn example() -> Self {
        LoginResponse {
            message: "Login successful".into(),
            token: "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.\
                eyJzdWIiOiI3Iiwicm9sZSI6ImN1c3RvbWVyIiwidmVyIjoxLCJpYXQiOjE3OTc3NTAwMDAsImV4cCI6MTc5NzgzNjQwMH0.\
                oEANmK3jsvAYleoRfOJ4-Uu4ZLVIalR4GXhRuDVwd88"
                .into(),
            token_type: "Bearer".into(),
            expires_in: 86_400,
            user: UserResponse::example(),
        }
    }
}

/// Any of the fields; those left out stay as they are, `null` clears `nik` or `phone_number`.
#[derive(Object)]
#[oai(example)]
struct UpdateUserRequest {
    #[oai(nullable, skip_serializing_if_is_none)]
    name: Option<Text<PersonName>>,
    #[oai(nullable, skip_serializing_if_is_none)]
    email: Option<Text<EmailAddress>>,
    /// Left out: kept; `null`: cleared.
    #[oai(nullable)]
    nik: MaybeUndefined<Text<NikNumber>>,
    /// Left out: kept; `null`: cleared.
    #[oai(nullable)]
    phone_number: MaybeUndefined<Text<PhoneNumber>>,
    /// Only an admin may change it.
    #[oai(nullable, skip_serializing_if_is_none)]
    role: Option<Text<OrNull<RoleName>>>,
}

impl poem_openapi::types::Example for UpdateUserRequest {
    fn example() -> Self {
        UpdateUserRequest {
            name: Some("Sari Dewi Lestari".into()),
            email: None,
            nik: MaybeUndefined::Undefined,
            phone_number: MaybeUndefined::Value("081298765432".into()),
            role: None,
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct PasswordChangeRequest {
    /// The current password; not needed when an admin resets someone else's.
    #[oai(nullable)]
    old_password: Option<Text>,
    /// 8 characters to 72 bytes.
    new_password: Text<NewPassword>,
}

impl poem_openapi::types::Example for PasswordChangeRequest {
    /// A user changing their own password: the one `RegisterRequest`'s example set, then the new.
    fn example() -> Self {
        PasswordChangeRequest {
            old_password: Some("rahasia-sekali".into()),
            new_password: "lebih-rahasia-lagi".into(),
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct MessageResponse {
    message: String,
}

impl poem_openapi::types::Example for MessageResponse {
    fn example() -> Self {
        MessageResponse {
            message: "Password changed; please log in again".into(),
        }
    }
}

#[derive(ApiResponse)]
enum RegisterResponse {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<UserResponse>),
}

#[derive(ApiResponse)]
enum UserListResponse {
    /// One page of accounts, oldest first; the total is in `X-Total-Count`.
    #[oai(status = 200)]
    Ok(
        Json<Vec<UserResponse>>,
        #[oai(header = "X-Total-Count")] u64,
    ),
}

#[derive(ApiResponse)]
enum DeactivateResponse {
    /// The account is deactivated; its bookings are kept.
    #[oai(status = 204)]
    Deactivated,
}

#[derive(ApiResponse)]
enum HeldEventsResponse {
    /// Events the user holds pending or confirmed tickets for, by date.
    #[oai(status = 200)]
    Ok(
        Json<Vec<EventResponse>>,
        #[oai(header = "X-Total-Count")] u64,
    ),
}

#[derive(ApiResponse)]
enum HistoryResponse {
    /// The user's bookings, newest first. Without `page` and `per_page` every booking is
    /// listed; with either, one page (`per_page` 20 by default, at most 100). The total is always
    /// in `X-Total-Count`.
    #[oai(status = 200)]
    Ok(
        Json<Vec<BookingResponse>>,
        #[oai(header = "X-Total-Count")] u64,
    ),
}

error_responses!(RegisterErrors {
    /// Invalid input; `details` lists each problem.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// The email (or one that looks like it) or the NIK is already registered.
    Conflict = 409 [EmailTaken, EmailLooksTaken, NikTaken],
    /// The request body is larger than the server accepts.
    PayloadTooLarge = 413 [PayloadTooLarge],
    /// Too many sign-ups from this address; see `Retry-After`.
    TooManyRequests = 429 [RateLimited] (RetryAfter),
} unavailable [Overloaded, PasswordChecksBusy, StoreUnavailable]);

error_responses!(LoginErrors {
    /// Malformed request body.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// Wrong email or password, or a deactivated account: one answer for all.
    Unauthorized = 401 [Unauthenticated],
    /// The request body is larger than the server accepts.
    PayloadTooLarge = 413 [PayloadTooLarge],
    /// Too many attempts from this address, or too many failures for this account from this
    /// address; see `Retry-After`.
    TooManyRequests = 429 [RateLimited] (RetryAfter),
} unavailable [Overloaded, PasswordChecksBusy, StoreUnavailable]);

error_responses!(AdminReadErrors {
    /// Bad paging parameters.
    BadRequest = 400 [ValidationFailed],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may do this.
    Forbidden = 403 [Forbidden],
});

error_responses!(ProfileErrors {
    /// The id is not a number.
    BadRequest = 400 [ValidationFailed],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Not your account.
    Forbidden = 403 [Forbidden],
    /// No such user.
    NotFound = 404 [NotFound],
});

error_responses!(OwnListErrors {
    /// Bad paging parameters.
    BadRequest = 400 [ValidationFailed],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Not your account.
    Forbidden = 403 [Forbidden],
});

error_responses!(UpdateUserErrors {
    /// Invalid input; `details` lists each problem.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Not your account, or a role change by a non-admin.
    Forbidden = 403 [Forbidden],
    /// No such user.
    NotFound = 404 [NotFound],
    /// Email or NIK taken, or the last active admin would be demoted.
    Conflict = 409 [EmailTaken, EmailLooksTaken, NikTaken, LastAdmin],
    /// The request body is larger than the server accepts.
    PayloadTooLarge = 413 [PayloadTooLarge],
    /// Too many profile changes by this customer; see `Retry-After`.
    TooManyRequests = 429 [RateLimited] (RetryAfter),
});

error_responses!(DeactivateErrors {
    /// The id is not a number.
    BadRequest = 400 [ValidationFailed],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may deactivate accounts.
    Forbidden = 403 [Forbidden],
    /// No such user.
    NotFound = 404 [NotFound],
    /// The last active admin cannot be deactivated.
    Conflict = 409 [LastAdmin],
});

error_responses!(PasswordErrors {
    /// Invalid new password, or the current password is wrong.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Not your account.
    Forbidden = 403 [Forbidden],
    /// No such user.
    NotFound = 404 [NotFound],
    /// The request body is larger than the server accepts.
    PayloadTooLarge = 413 [PayloadTooLarge],
    /// Too many password attempts from this address or changes by this account; see `Retry-After`.
    TooManyRequests = 429 [RateLimited] (RetryAfter),
} unavailable [Overloaded, PasswordChecksBusy, StoreUnavailable]);

pub struct UsersApi {
    services: Arc<Services>,
    throttles: Arc<Throttles>,
    links: PictureLinks,
}

impl UsersApi {
    pub fn new(services: Arc<Services>, throttles: Arc<Throttles>, links: PictureLinks) -> Self {
        UsersApi {
            services,
            throttles,
            links,
        }
    }
}

#[OpenApi(prefix_path = "/api/users", tag = "Tag::Users")]
impl UsersApi {
    /// Register a customer account.
    ///
    /// Anyone may call it, without a token. The account is always a customer; admins are made
    /// by the operator (`ADMIN_EMAIL`, `wartawa create-admin`) or by another admin. Sign-ups are
    /// limited per client address (429). Log in afterwards to get a token.
    #[oai(path = "/", method = "post", operation_id = "register")]
    async fn register(
        &self,
        request: &Request,
        body: Json<RegisterRequest>,
    ) -> Result<RegisterResponse, RegisterErrors> {
        let address = self.throttles.client_address(request);
        self.throttles
            .registrations_per_address
            .hit(&address)
            .await
            .map_err(|throttled| {
                throttled.into_failure(Localized::new(
                    "sign-ups from your address",
                    "pendaftaran dari alamat Anda",
                ))
            })?;
        let form = Registration {
            name: body.0.name.into(),
            email: body.0.email.into(),
            password: body.0.password.into(),
            nik: body.0.nik.map(String::from),
            phone_number: body.0.phone_number.map(String::from),
        };
        let user = self.services.users.register(form).await?;
        Ok(RegisterResponse::Created(Json(UserResponse::new(
            &user,
            self.services.venue_offset,
        ))))
    }

    /// Log in; returns a bearer token.
    ///
    /// Anyone may call it. A wrong email, a wrong password and a deactivated account get the same
    /// 401. Attempts are limited per client address, and failures per account and address (429
    /// with `Retry-After`). Send the token as `Authorization: Bearer <token>`.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        request: &Request,
        body: Json<LoginRequest>,
    ) -> Result<Json<LoginResponse>, LoginErrors> {
        let too_many = |throttled: Throttled| {
            throttled.into_failure(Localized::new("login attempts", "percobaan masuk"))
        };
        let address = self.throttles.client_address(request);
        self.throttles
            .password_attempts_per_address
            .hit(&address)
            .await
            .map_err(too_many)?;
        let account = body.0.email.trim().to_lowercase();
        self.throttles
            .login_may_try(&account, &address)
            .await
            .map_err(too_many)?;
        let priority = self.throttles.check_priority(&address).await;
        let logged_in = match self
            .services
            .users
            .login(&body.0.email, &body.0.password, priority)
            .await
        {
            Ok(logged_in) => logged_in,
            Err(error) => {
                if error == LoginError::InvalidCredentials {
                    // Counted after the fact: the limit is on failures, so a right password passes.
                    self.throttles.login_failed(&account, &address).await;
                }
                return Err(error.into());
            }
        };
        Ok(Json(LoginResponse {
            message: Localized::new("Login successful", "Berhasil masuk").for_request(),
            token: logged_in.token.token,
            token_type: "Bearer".into(),
            expires_in: logged_in.token.expires_in_seconds,
            user: UserResponse::new(&logged_in.user, self.services.venue_offset),
        }))
    }

    /// List accounts.
    ///
    /// Admins only. One page at a time (`per_page` 20 by default, at most 100), oldest first; the
    /// total is in `X-Total-Count`.
    #[oai(path = "/", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        auth: BearerToken,
        page: PageParam,
        per_page: PerPageParam,
    ) -> Result<UserListResponse, AdminReadErrors> {
        let actor = self.services.actor(&auth).await?;
        let page = page_of(page, per_page)?;
        let users = self.services.users.list(&actor, page).await?;
        Ok(UserListResponse::Ok(
            Json(
                users
                    .items
                    .iter()
                    .map(|user| UserResponse::new(user, self.services.venue_offset))
                    .collect(),
            ),
            users.total,
        ))
    }

    /// A profile.
    ///
    /// The user themself or an admin; anyone else gets 403.
    #[oai(path = "/:id", method = "get", operation_id = "getUser")]
    async fn get(
        &self,
        auth: BearerToken,
        id: Path<i64>,
    ) -> Result<Json<UserResponse>, ProfileErrors> {
        let actor = self.services.actor(&auth).await?;
        let user = self.services.users.get(&actor, UserId(id.0)).await?;
        Ok(Json(UserResponse::new(&user, self.services.venue_offset)))
    }

    /// Update a profile.
    ///
    /// The user themself or an admin; only an admin may change `role`, and a role change revokes
    /// the user's tokens. The last active admin cannot be demoted (409 `last_admin`). A
    /// customer's own changes are limited in number (429).
    #[oai(path = "/:id", method = "put", operation_id = "updateUser")]
    async fn update(
        &self,
        auth: BearerToken,
        id: Path<i64>,
        body: Json<UpdateUserRequest>,
    ) -> Result<Json<UserResponse>, UpdateUserErrors> {
        let actor = self.services.actor(&auth).await?;
        // Each answer may tell whether an email or NIK is taken; admins can list accounts anyway.
        if !actor.is_admin() {
            self.throttles
                .profile_changes_per_customer
                .hit(&actor.id.to_string())
                .await
                .map_err(|throttled| {
                    throttled.into_failure(Localized::new("profile changes", "perubahan profil"))
                })?;
        }
        let update = ProfileUpdate {
            name: body.0.name.map(String::from),
            email: body.0.email.map(String::from),
            nik: patch_field(body.0.nik),
            phone_number: patch_field(body.0.phone_number),
            role: body.0.role.map(String::from),
        };
        let user = self
            .services
            .users
            .update(&actor, UserId(id.0), update)
            .await?;
        Ok(Json(UserResponse::new(&user, self.services.venue_offset)))
    }

    /// Deactivate an account.
    ///
    /// Admins only. The account can no longer log in and its tokens stop working; its bookings
    /// are kept for the books. The last active admin cannot be deactivated (409 `last_admin`).
    #[oai(path = "/:id", method = "delete", operation_id = "deactivateUser")]
    async fn deactivate(
        &self,
        auth: BearerToken,
        id: Path<i64>,
    ) -> Result<DeactivateResponse, DeactivateErrors> {
        let actor = self.services.actor(&auth).await?;
        self.services.users.deactivate(&actor, UserId(id.0)).await?;
        Ok(DeactivateResponse::Deactivated)
    }

    /// Change a password.
    ///
    /// The user themself, with `old_password` (a wrong one is a 400, never a 401), or an admin
    /// resetting someone else's, with `new_password` alone. Tokens issued before stop working.
    #[oai(
        path = "/:id/password",
        method = "post",
        operation_id = "changePassword"
    )]
    async fn change_password(
        &self,
        request: &Request,
        auth: BearerToken,
        id: Path<i64>,
        body: Json<PasswordChangeRequest>,
    ) -> Result<Json<MessageResponse>, PasswordErrors> {
        // The address's throttle first: refusing a flood must cost no database read.
        let address = self.throttles.client_address(request);
        self.throttles
            .password_attempts_per_address
            .hit(&address)
            .await
            .map_err(|throttled| {
                throttled.into_failure(Localized::new(
                    "password attempts from your address",
                    "percobaan kata sandi dari alamat Anda",
                ))
            })?;
        let actor = self.services.actor(&auth).await?;
        self.throttles
            .password_changes_per_account
            .hit(&actor.id.to_string())
            .await
            .map_err(|throttled| {
                throttled.into_failure(Localized::new("password changes", "perubahan kata sandi"))
            })?;
        let change = PasswordChange {
            old_password: body.0.old_password.map(String::from),
            new_password: body.0.new_password.into(),
        };
        let changed = self
            .services
            .users
            .change_password(
                &actor,
                UserId(id.0),
                change,
                self.throttles.check_priority(&address).await,
            )
            .await;
        if changed == Err(ChangePasswordError::WrongOldPassword) {
            self.throttles.password_check_failed(&address).await;
        }
        changed?;
        Ok(Json(MessageResponse {
            message: Localized::new(
                "Password changed; please log in again",
                "Kata sandi diubah; silakan masuk lagi",
            )
            .for_request(),
        }))
    }

    /// Events the user holds tickets for.
    ///
    /// The user themself or an admin. Events with a pending or confirmed booking of the user, by
    /// date.
    #[oai(path = "/:id/events", method = "get", operation_id = "listUserEvents")]
    async fn events(
        &self,
        request: &Request,
        auth: BearerToken,
        id: Path<i64>,
        page: PageParam,
        per_page: PerPageParam,
    ) -> Result<HeldEventsResponse, OwnListErrors> {
        let actor = self.services.actor(&auth).await?;
        let page = page_of(page, per_page)?;
        let events = self
            .services
            .events
            .events_of_ticket_holder(&actor, UserId(id.0), page)
            .await?;
        let shown = Presentation::of(&self.services, &self.links, request);
        Ok(HeldEventsResponse::Ok(
            Json(
                events
                    .items
                    .iter()
                    .map(|view| EventResponse::new(view, &shown))
                    .collect(),
            ),
            events.total,
        ))
    }

    /// The user's bookings.
    ///
    /// The user themself or an admin. Newest first. Without `page` and `per_page` every booking
    /// is listed; with either, one page (`per_page` 20 by default, at most 100). The total is
    /// always in `X-Total-Count`.
    #[oai(
        path = "/:id/bookings",
        method = "get",
        operation_id = "listUserBookings"
    )]
    async fn bookings(
        &self,
        request: &Request,
        auth: BearerToken,
        id: Path<i64>,
        page: PageParam,
        per_page: PerPageParam,
    ) -> Result<HistoryResponse, OwnListErrors> {
        let actor = self.services.actor(&auth).await?;
        let page = page_or_everything(page, per_page)?;
        let bookings = self
            .services
            .bookings
            .history(&actor, UserId(id.0), page)
            .await?;
        let shown = Presentation::of(&self.services, &self.links, request);
        Ok(HistoryResponse::Ok(
            Json(
                bookings
                    .items
                    .iter()
                    .map(|details| BookingResponse::new(details, &shown))
                    .collect(),
            ),
            bookings.total,
        ))
    }
}
