//! `GET /v1/office/review` (the queue) and `POST /v1/office/records/{id}/review` (decide).
//!
//! **Re-review.** An approval is an office op; the office index remembers its sequence
//! number (the `approve` action). A record whose status is still `approved`/`verified`
//! and which has a device op numbered after its last approval "needs review": it shows
//! in the queue's `flagged` list and in the record list with `needs_review=true`. This is
//! computed from the log, so no device write is ever refused or changed, and approving
//! again clears the flag.
//!
//! **Cancelled with findings** (docs/domain.md, case 6). A team leader cancels a visit that a
//! team member already started offline with findings: the findings are records of their
//! own, so they survive; the visit is listed in `cancelled_with_findings` while its status
//! (or one of its competing status values) is `cancelled` and a finding pointing at it is
//! not archived. Re-opening the visit or archiving its findings clears it.

use axum::extract::State;
use serde::Deserialize;
use sidak_core::Kind;
use sidak_server_storage::office::facts::awaiting_review;
use sidak_server_storage::office::model::{Decision, OfficeAction, RecordFilter};

use super::auth::Supervisor;
use super::params::{Params, record_id};
use crate::answers::office::{RecordSummary, ReviewQueue, WriteOutcome};
use crate::error::ApiError;
use crate::extract::{Body, Message};
use crate::state::AppState;

/// Records per list of the queue.
const QUEUE_PAGE: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueueParams {
    region: Option<String>,
    unmasked: Option<bool>,
}

/// Visits and worker registrations waiting for review (`awaiting`), approved ones
/// edited by a device since (`flagged`), and cancelled visits that still have findings
/// (`cancelled_with_findings`).
pub async fn queue(
    State(state): State<AppState>,
    who: Supervisor,
    Params(p): Params<QueueParams>,
) -> Result<axum::Json<ReviewQueue>, ApiError> {
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "review queue")?;
    let region = p.region.filter(|r| !r.is_empty());
    let mut awaiting = Vec::new();
    let mut total = 0;
    for kind in [Kind::Visit, Kind::Worker] {
        for status in awaiting_review(kind) {
            let filter = RecordFilter {
                kind: Some(kind),
                status: Some((*status).to_owned()),
                region: region.clone(),
                ..RecordFilter::default()
            };
            let page = state
                .storage
                .list_records(&filter, None, QUEUE_PAGE)
                .await?;
            total += page.total;
            awaiting.extend(page.records.iter().map(|s| RecordSummary::new(s, unmasked)));
        }
    }
    let flagged = state
        .storage
        .list_records(
            &RecordFilter {
                needs_review: true,
                region: region.clone(),
                ..RecordFilter::default()
            },
            None,
            QUEUE_PAGE,
        )
        .await?;
    let cancelled = state
        .storage
        .list_records(
            &RecordFilter {
                kind: Some(Kind::Visit),
                cancelled_with_findings: true,
                region,
                ..RecordFilter::default()
            },
            None,
            QUEUE_PAGE,
        )
        .await?;
    Ok(axum::Json(ReviewQueue {
        awaiting,
        awaiting_total: total,
        flagged: RecordSummary::all(&flagged.records, unmasked),
        flagged_total: flagged.total,
        cancelled_with_findings: RecordSummary::all(&cancelled.records, unmasked),
        cancelled_with_findings_total: cancelled.total,
    }))
}

/// `POST /v1/office/records/{id}/review` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// `approve` or `return`.
    pub decision: ReviewDecision,
    /// The comment for the officer (required to return); written to `review_note`.
    #[serde(default)]
    pub note: Option<String>,
}

impl Message for ReviewRequest {
    const VERSIONED: bool = false;
}

/// The decision of a [`ReviewRequest`] as the request names it; storage's [`Decision`] is
/// converted by hand so it stays free of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// Accept the visit or registration (`approved` / `verified`).
    Approve,
    /// Send it back to the officer with a comment (`returned`).
    Return,
}

impl From<ReviewDecision> for Decision {
    fn from(d: ReviewDecision) -> Self {
        match d {
            ReviewDecision::Approve => Decision::Approve,
            ReviewDecision::Return => Decision::Return,
        }
    }
}

/// Approves (status `approved` for a visit, `verified` for a worker) or returns
/// (status `returned` with the comment in `review_note`); the device sees it after its next sync.
pub async fn decide(
    State(state): State<AppState>,
    who: Supervisor,
    crate::extract::PathId(id): crate::extract::PathId,
    Body(req): Body<ReviewRequest>,
) -> Result<axum::Json<WriteOutcome>, ApiError> {
    let id = record_id(&id)?;
    super::perform(
        &state,
        &who,
        OfficeAction::Review {
            record: id,
            decision: req.decision.into(),
        },
        req.note,
    )
    .await
}
