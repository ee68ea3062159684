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
use sidak_server_storage::office::model::{Decision, OfficeAction, RecordFilter};

use super::auth::Supervisor;
use super::params::{Params, record_id};
use super::records::{ListParams, cursor_of};
use crate::answers::office::{BulkOutcome, BulkResult, RecordSummary, ReviewQueue, WriteOutcome};
use crate::error::ApiError;
use crate::extract::{Body, Message};
use crate::state::AppState;

/// Records per list of the queue when the caller does not say.
const QUEUE_PAGE: usize = 50;
/// Most records per list of one answer.
const MAX_QUEUE_PAGE: usize = 200;
/// Most records one bulk decision takes.
pub const MAX_BULK: usize = 200;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueueParams {
    region: Option<String>,
    unmasked: Option<bool>,
    /// Page only this list (`awaiting`, `flagged`, `cancelled_with_findings`; `awaiting` when
    /// only a cursor is given); the others come back empty (their totals are still counted).
    list: Option<String>,
    /// The list's `*_next_cursor` from the previous answer.
    cursor: Option<String>,
    /// Records per list, 1 to 200 (50 when left out).
    limit: Option<usize>,
}

/// The three lists of the queue.
const LISTS: [&str; 3] = ["awaiting", "flagged", "cancelled_with_findings"];

/// Visits and worker registrations waiting for review (`awaiting`), approved ones
/// edited by a device since (`flagged`), and cancelled visits that still have findings
/// (`cancelled_with_findings`), one page of each, newest change first.
pub async fn queue(
    State(state): State<AppState>,
    who: Supervisor,
    Params(p): Params<QueueParams>,
) -> Result<axum::Json<ReviewQueue>, ApiError> {
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "review queue")?;
    let region = p.region.filter(|r| !r.is_empty());
    let limit = match p.limit {
        None => QUEUE_PAGE,
        Some(n) if (1..=MAX_QUEUE_PAGE).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid_message(format!(
                "limit must be 1 to {MAX_QUEUE_PAGE}"
            )));
        }
    };
    let only = match p.list.as_deref() {
        None => None,
        Some(l) if LISTS.contains(&l) => Some(l),
        Some(l) => {
            return Err(ApiError::invalid_message(format!(
                "list must be awaiting, flagged or cancelled_with_findings, got {:?}",
                super::params::clip(l)
            )));
        }
    };
    // A cursor continues one list: `awaiting` unless another is named.
    let only = match only {
        None if p.cursor.as_deref().is_some_and(|c| !c.is_empty()) => Some("awaiting"),
        o => o,
    };
    let after = ListParams {
        cursor: p.cursor.clone(),
        ..ListParams::default()
    }
    .after()?;
    let filters = [
        RecordFilter {
            awaiting_review: true,
            region: region.clone(),
            ..RecordFilter::default()
        },
        RecordFilter {
            needs_review: true,
            region: region.clone(),
            ..RecordFilter::default()
        },
        RecordFilter {
            kind: Some(Kind::Visit),
            cancelled_with_findings: true,
            region,
            ..RecordFilter::default()
        },
    ];
    let mut lists = Vec::with_capacity(3);
    for (name, filter) in LISTS.iter().zip(&filters) {
        // A list not asked for is counted, not read.
        let take = if only.is_none_or(|o| o == *name) {
            limit
        } else {
            0
        };
        let page = state
            .storage
            .list_records(filter, after.filter(|_| only == Some(*name)), take.max(1))
            .await?;
        let records = if take == 0 { Vec::new() } else { page.records };
        let next = (take > 0 && page.more)
            .then(|| records.last().map(cursor_of))
            .flatten();
        lists.push((RecordSummary::all(&records, unmasked), page.total, next));
    }
    let mut it = lists.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let (awaiting, awaiting_total, awaiting_next_cursor) = next();
    let (flagged, flagged_total, flagged_next_cursor) = next();
    let (cancelled, cancelled_total, cancelled_next_cursor) = next();
    Ok(axum::Json(ReviewQueue {
        awaiting,
        awaiting_total,
        awaiting_next_cursor,
        flagged,
        flagged_total,
        flagged_next_cursor,
        cancelled_with_findings: cancelled,
        cancelled_with_findings_total: cancelled_total,
        cancelled_with_findings_next_cursor: cancelled_next_cursor,
    }))
}

/// `POST /v1/office/review` body: one decision for a selection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkReview {
    /// `approve` or `return`.
    pub decision: ReviewDecision,
    /// The records decided, 1 to [`MAX_BULK`].
    pub records: Vec<String>,
    /// The comment (required to return), written to each record's `review_note`.
    #[serde(default)]
    pub note: Option<String>,
}

impl Message for BulkReview {
    const VERSIONED: bool = false;
}

/// Decides a selection of the queue at once. Each record is its own office write: one that
/// is refused (stale, not awaiting review, not found) is answered with its code and the
/// others are still decided.
pub async fn decide_many(
    State(state): State<AppState>,
    who: Supervisor,
    Body(req): Body<BulkReview>,
) -> Result<axum::Json<BulkOutcome>, ApiError> {
    if req.records.is_empty() || req.records.len() > MAX_BULK {
        return Err(ApiError::invalid_message(format!(
            "records must list 1 to {MAX_BULK} record ids, got {}",
            req.records.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut results = Vec::with_capacity(req.records.len());
    for raw in &req.records {
        if !seen.insert(raw.as_str()) {
            return Err(ApiError::invalid_message(format!(
                "record {:?} is listed twice",
                super::params::clip(raw)
            )));
        }
    }
    for raw in req.records {
        let outcome = match record_id(&raw) {
            Err(e) => Err(e),
            Ok(id) => {
                super::perform(
                    &state,
                    &who,
                    OfficeAction::Review {
                        record: id,
                        decision: req.decision.into(),
                    },
                    req.note.clone(),
                )
                .await
            }
        };
        results.push(match outcome {
            Ok(_) => BulkResult {
                record: raw,
                done: true,
                code: None,
                message: None,
            },
            Err(e) => BulkResult {
                record: raw,
                done: false,
                code: Some(e.code),
                message: Some(e.message),
            },
        });
    }
    let decided = results.iter().filter(|r| r.done).count();
    Ok(axum::Json(BulkOutcome { decided, results }))
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
