//! The HTTP contract suite: `/work/shared/api-contract.md` as executable checks, driven
//! in-process through the real app.
//!
//! Every check is a `pub async fn name(factory: AppFactory)` that makes its own fresh app (so
//! figures such as the dashboard's are exact), and [`http_suite_tests!`](crate::http_suite_tests)
//! expands one `#[tokio::test]` per check for a given store, so that the same suite runs on the
//! memory store and on PostgreSQL.

pub mod abuse;
pub mod attacks;
pub mod audit;
pub mod authorization;
pub mod bookings;
pub mod concurrency;
pub mod dashboard;
pub mod emails;
pub mod events;
pub mod framework;
pub mod idempotency;
pub mod live_seats;
pub mod reasons;
pub mod schema_rules;
pub mod tickets;
pub mod users;
pub mod webhooks;

/// Expands the whole HTTP suite into `#[tokio::test]`s, one module per resource, over the
/// store of `$factory`: an expression giving an [`AppFactory`](crate::http_harness::AppFactory),
/// evaluated at the start of each (async) test, so that it may `.await`, and `return` to skip
/// when its store is not available. Names it uses are found at the invocation's top level.
///
/// ```ignore
/// tests::http_suite_tests!(tests::http_harness::AppFactory::memory());
/// tests::http_suite_tests!(match postgres_apps().await {
///     Some(factory) => factory,
///     None => return,
/// });
/// ```
#[macro_export]
macro_rules! http_suite_tests {
    ($factory:expr) => {
        $crate::http_suite_tests!(@module ($factory) users {
            register_returns_the_new_customer,
            register_reports_every_invalid_field,
            register_refuses_a_taken_email_whatever_its_case,
            register_refuses_a_taken_nik,
            login_returns_a_bearer_token_and_the_user,
            login_failures_are_indistinguishable,
            listing_users_is_for_admins_and_paged,
            profiles_are_for_their_owner_and_admins,
            customers_cannot_change_their_role,
            promotion_makes_an_admin_and_revokes_old_tokens,
            the_last_admin_stays_an_admin,
            deactivation_ends_access_but_keeps_bookings,
            password_change_checks_the_old_one_and_revokes_tokens,
            admins_reset_passwords_without_the_old_one,
            user_events_are_those_with_tickets_not_organised,
            booking_history_is_newest_first_with_its_event,
        });
        $crate::http_suite_tests!(@module ($factory) events {
            create_event_returns_it_with_phases_and_seats,
            rows_past_z_are_lettered_aa_ab,
            naive_times_are_read_at_the_venue_offset,
            create_event_reports_invalid_input,
            uploaded_pictures_are_served_from_their_own_address,
            a_list_of_posters_stays_small,
            pictures_are_replaced_cleared_and_deleted_with_their_event,
            events_without_an_uploaded_picture_have_none_to_serve,
            picture_addresses_follow_the_public_base_url_or_the_host,
            image_url_accepts_only_links_and_raster_uploads,
            events_are_listed_by_date_filtered_and_paged,
            lists_the_web_app_reads_are_whole_without_paging,
            unknown_events_are_not_found,
            update_event_changes_fields_and_appends_seats,
            capacity_cannot_drop_below_held_seats,
            phases_are_updated_added_and_removed_unless_sold,
            cancelling_an_event_refunds_and_frees_everything,
            delete_is_only_for_events_without_bookings,
            seat_map_tells_held_from_sold,
            current_phase_gives_way_when_sold_out,
            current_phase_gives_way_when_its_window_closes,
        });
        $crate::http_suite_tests!(@module ($factory) bookings {
            booking_has_every_contract_field,
            malformed_checkouts_are_bad_requests,
            taken_seats_are_named_and_nothing_is_held,
            a_phase_off_sale_is_a_conflict,
            tickets_per_user_are_limited,
            ticket_limit_can_be_lifted,
            events_not_on_sale_refuse_bookings,
            bookings_are_read_by_owner_and_admin_by_any_case,
            payment_confirms_once_and_checks_the_amount,
            unpaid_holds_expire_and_free_their_seats,
            cancellation_frees_seats_and_refunds,
            paid_bookings_cannot_be_cancelled_once_the_show_started,
            check_in_lets_a_paid_guest_in_once,
            free_shows_are_confirmed_with_a_zero_payment,
        });
        $crate::http_suite_tests!(@module ($factory) dashboard {
            dashboard_figures_follow_bookings_payments_and_cancellations,
            recent_transactions_are_the_ten_newest,
            dashboard_is_for_admins,
        });
        $crate::http_suite_tests!(@module ($factory) audit {
            every_audited_action_appears_with_its_actor_target_and_time,
            refused_actions_leave_no_entry,
            the_audit_trail_is_newest_first_paged_and_filtered,
            the_audit_trail_is_for_admins,
        });
        $crate::http_suite_tests!(@module ($factory) framework {
            malformed_json_is_a_bad_request,
            missing_and_mistyped_fields_are_bad_requests,
            numbers_and_booleans_are_not_text,
            unknown_paths_are_not_found,
            wrong_methods_are_not_allowed,
            oversized_bodies_are_refused,
            missing_or_bad_tokens_are_unauthorized,
            cors_preflight_allows_the_web_app,
            cors_origins_can_be_restricted,
            health_and_readiness_answer,
            a_callers_request_id_is_kept_when_sane,
            metrics_show_the_sale_happening,
            large_answers_are_compressed_for_clients_that_take_it,
            openapi_document_lists_every_contract_path,
            swagger_ui_is_served,
            hostile_input_never_causes_a_server_error,
            the_document_can_be_taken_at_its_word,
        });
        $crate::http_suite_tests!(@module ($factory) abuse {
            logins_from_one_address_are_throttled_whatever_forwarded_for_says,
            repeated_failures_lock_an_account_but_not_others,
            successful_logins_do_not_count_as_failures,
            booking_attempts_are_throttled_per_customer,
            past_the_in_flight_bound_requests_are_shed_and_probes_still_answer,
            a_login_burst_is_refused_without_crowding_out_browsing,
        });
        $crate::http_suite_tests!(@module ($factory) attacks {
            admin_email_never_promotes_an_account_someone_registered,
            failed_logins_lock_out_the_guessing_address_not_the_owner,
            password_work_cannot_be_used_to_crowd_out_logins,
            sign_ups_are_bounded_per_address,
            booking_codes_cannot_be_probed,
            profile_changes_cannot_enumerate_accounts,
            control_characters_are_refused_wherever_text_is_kept,
            idempotency_keys_cannot_be_hoarded,
            a_customer_who_keeps_giving_up_holds_is_refused_for_that_show,
            look_alike_emails_do_not_make_new_accounts,
            look_alikes_racing_make_one_account,
            every_answer_carries_the_security_headers,
            guessing_from_many_addresses_leaves_room_for_other_logins,
        });
        $crate::http_suite_tests!(@module ($factory) reasons {
            the_document_publishes_the_reasons_and_every_error_carries_one,
            each_error_response_names_its_reasons_and_shows_one,
            each_refused_booking_says_why,
            each_refused_account_change_says_why,
            messages_are_in_the_callers_language,
        });
        $crate::http_suite_tests!(@module ($factory) live_seats {
            a_listener_sees_each_change_in_order_and_holds_the_map,
            a_change_of_two_seats_is_a_few_hundred_bytes,
            a_reconnecting_listener_gets_what_it_missed,
            changes_arrive_by_signal_not_by_polling,
            a_booking_on_one_instance_reaches_a_listener_on_another,
            a_refused_booking_sends_nothing,
            a_stalled_listener_is_resynchronised_not_buffered,
            streams_are_capped_and_unknown_events_not_found,
            a_grown_or_cancelled_show_is_told,
            idle_streams_send_heartbeats_and_end_at_shutdown,
        });
        $crate::http_suite_tests!(@module ($factory) tickets {
            a_paid_bookings_ticket_verifies_with_the_public_key_alone,
            the_ticket_files_carry_the_signed_ticket,
            the_printable_ticket_says_what_the_door_needs,
            a_scanned_ticket_lets_its_guest_in_once,
            the_door_list_shows_who_is_expected_and_who_is_in,
        });
        $crate::http_suite_tests!(@module ($factory) schema_rules {
            the_document_states_the_limits_the_server_keeps,
        });
        $crate::http_suite_tests!(@module ($factory) idempotency {
            a_retried_booking_is_replayed_not_repeated,
            a_retried_payment_is_replayed_not_repeated,
            a_key_reused_for_another_request_is_unprocessable,
            malformed_keys_are_bad_requests,
            simultaneous_requests_with_one_key_book_once,
            each_customer_has_keys_of_their_own,
            refusals_are_replayed_until_the_key_expires,
            one_key_on_two_instances_books_once,
            the_openapi_document_declares_idempotency_keys,
        });
        $crate::http_suite_tests!(@module ($factory) authorization {
            every_route_answers_each_kind_of_caller_as_the_contract_says,
        });
        $crate::http_suite_tests!(@module ($factory) concurrency {
            sixty_four_customers_racing_for_two_seats_one_wins,
            racing_across_two_instances_one_wins,
            phase_quota_holds_under_concurrent_bookings,
            ticket_limit_holds_under_concurrent_bookings,
            simultaneous_check_ins_let_one_in,
            seat_map_bookings_and_dashboard_agree_after_a_rush,
            simultaneous_payments_record_one,
            check_in_and_cancel_race_leaves_one_outcome,
            instances_share_accounts_tokens_and_seats,
            simultaneous_sign_ups_with_one_email_make_one_account,
            shrinking_capacity_and_booking_the_last_row_race_cleanly,
            cancelling_an_event_while_a_customer_pays_leaves_nothing_paid,
            deleting_an_event_while_a_customer_books_it_race_cleanly,
        });
        $crate::http_suite_tests!(@module ($factory) emails {
            paying_emails_the_buyer_once_with_the_ticket,
            without_an_smtp_server_nothing_is_queued_for_buyers,
            an_email_refused_for_a_day_is_parked_for_admins_to_see,
        });
        $crate::http_suite_tests!(@module ($factory) webhooks {
            booking_changes_reach_a_receiver_signed_and_at_least_once,
            endpoints_get_only_what_they_asked_for,
            webhook_endpoints_are_for_admins_and_checked,
            two_instances_deliver_each_notification_once,
            an_endpoint_failing_for_a_day_is_parked_then_disabled,
            a_shows_changes_and_cancellation_are_told,
            a_bookings_life_is_told_step_by_step,
        });
    };
    (@module ($factory:expr) $module:ident { $($test:ident),* $(,)? }) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let factory: $crate::http_harness::AppFactory = $factory;
                    $crate::http_suite::$module::$test(factory).await;
                }
            )*
        }
    };
}
