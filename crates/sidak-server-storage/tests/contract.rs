//! The storage contract: the same stories, written once against the [`Storage`] trait, run
//! directly on every backend (a fresh SQLite file, and a fresh PostgreSQL database when
//! `sidak_server_storage::testing::database_url()` names a server: always in CI), so the
//! backends are held to one behaviour; plus a check that their schemas stay in step.
//!
//! Each story is `async fn story(store: &dyn Storage) -> Answer`: it asserts what every
//! backend must do, and returns what it saw. Stories are deterministic (ids, times and
//! secrets are fixed), so [`contract!`] also asserts that every backend returned the same
//! answer. A story that needs to reopen its database takes the `&harness::Backend`.
//!
//! Run it on both engines:
//! `SIDAK_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p sidak-server-storage --test contract -- --nocapture`
//! (`--nocapture` prints each story's time per engine).
//!
//! [`Storage`]: sidak_server_storage::Storage

#![allow(clippy::unwrap_used)]

#[path = "contract/blob_stories.rs"]
mod blob_stories;
#[path = "contract/chain_stories.rs"]
mod chain_stories;
#[path = "contract/harness.rs"]
mod harness;
#[path = "contract/office_stories.rs"]
mod office_stories;
#[path = "contract/schema.rs"]
mod schema;
#[path = "contract/sync_stories.rs"]
mod sync_stories;

use harness::{Engine, StoryArg, engines, fresh, report, same_answers, timer};

/// One test per story: the story on a fresh database of every engine, then the answers
/// compared.
macro_rules! contract {
    ($($module:ident :: $story:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $story() {
            let mut answers = Vec::new();
            for engine in engines() {
                let backend = fresh(engine).await;
                let t = timer();
                let answer = $module::$story(StoryArg::of(&backend)).await;
                report(stringify!($story), engine, t.elapsed());
                answers.push((engine, answer));
            }
            same_answers(stringify!($story), &answers);
        }
    )*};
}

contract! {
    sync_stories::users_and_sessions,
    sync_stories::officers_and_scopes,
    sync_stories::enrollment_codes,
    sync_stories::one_code_one_device_under_a_race,
    sync_stories::keep_identity,
    sync_stories::authenticate_revoke_touch,
    sync_stories::push_numbers_accepted_ops,
    sync_stories::resent_batch_applies_once,
    sync_stories::revoked_device_writes_nothing,
    sync_stories::scope_change_before_push,
    sync_stories::scan_ops_filters_and_pages,
    sync_stories::pull_page_by_stored_scope,
    sync_stories::holds_op_and_record,
    sync_stories::cursor_key_is_kept,
    office_stories::list_records_filters_and_pages,
    office_stories::record_summaries,
    office_stories::visit_label_follows_the_company,
    office_stories::duplicate_groups,
    office_stories::set_aside_ops,
    office_stories::coverage,
    office_stories::overview,
    office_stories::office_writes,
    blob_stories::blob_upload_in_chunks,
    blob_stories::blob_references_and_scope,
    blob_stories::blob_gc_keeps_what_is_referenced,
    chain_stories::sealed_pushes_and_the_audit,
    chain_stories::chain_refusals,
    chain_stories::rotation_and_replays,
    chain_stories::ops_logged_before_links_are_linked,
    chain_stories::one_stamp_twice_in_a_batch_logs_the_accepted_text,
}

/// The SQLite and PostgreSQL schemas declare the same tables and columns (see `schema.rs`
/// for the allow-list). Needs PostgreSQL; skipped with a note without it, never in CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_in_step() {
    if !engines().contains(&Engine::Postgres) {
        return;
    }
    let (lite, pg) = (fresh(Engine::Sqlite).await, fresh(Engine::Postgres).await);
    let t = timer();
    schema::schemas_in_step(&lite, &pg).await;
    report("schemas_in_step", Engine::Postgres, t.elapsed());
}
