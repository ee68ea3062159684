//! Property: random interleavings of edits, pushes and pulls from several devices, with
//! replies lost and requests retried, always end with every device holding the server's state.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use serde_json::{Value as Json, json};
use sidak_core::protocol::{PROTOCOL_VERSION, PullResponse, PushResponse};
use sidak_core::{Edit, RecordV1};
use sidak_test_support::{Backend, TestDevice, TestServer, backends, villages};

/// Devices per case: enough for three-way concurrency.
const DEVICES: usize = 3;

#[derive(Debug, Clone)]
enum Step {
    /// A device registers a new worker.
    Create(usize),
    /// A device edits one of the records it holds.
    Edit {
        dev: usize,
        rec: usize,
        what: u8,
        value: u8,
    },
    /// A device pushes; the reply may be lost (the same batch is resent later).
    Push { dev: usize, lose: bool },
    /// A device pulls a page; the reply may be lost (the cursor stays).
    Pull { dev: usize, lose: bool, limit: u32 },
    /// A device calls `/v1/sync`.
    Sync(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let dev = 0..DEVICES;
    prop_oneof![
        2 => dev.clone().prop_map(Step::Create),
        4 => (dev.clone(), 0..8usize, 0..3u8, 0..4u8).prop_map(|(dev, rec, what, value)| Step::Edit { dev, rec, what, value }),
        2 => (dev.clone(), any::<bool>()).prop_map(|(dev, lose)| Step::Push { dev, lose }),
        2 => (dev.clone(), any::<bool>(), 1..6u32).prop_map(|(dev, lose, limit)| Step::Pull { dev, lose, limit }),
        1 => dev.prop_map(Step::Sync),
    ]
}

struct Phone {
    dev: TestDevice,
    /// A batch whose reply was lost: it must be resent exactly.
    lost: Option<Json>,
}

impl Phone {
    async fn push(&mut self, lose: bool) {
        let body = match self.lost.take() {
            Some(b) => b,
            None if self.dev.pending.is_empty() => return,
            None => self.dev.batch(4),
        };
        let (st, reply) = self.dev.post("/v1/push", &body).await;
        assert_eq!(st, 200, "{reply}");
        if lose {
            self.lost = Some(body);
            return;
        }
        let reply: PushResponse = serde_json::from_value(reply).expect("reply");
        self.dev.acknowledge(&reply);
    }

    async fn pull(&mut self, lose: bool, limit: u32) {
        let body = json!({"protocol": PROTOCOL_VERSION, "cursor": self.dev.cursor, "limit": limit});
        let (st, page) = self.dev.post("/v1/pull", &body).await;
        assert_eq!(st, 200, "{page}");
        if !lose {
            let page: PullResponse = serde_json::from_value(page).expect("page");
            self.dev.apply_page(&page);
        }
    }

    fn edit(&mut self, rec: usize, what: u8, value: u8) {
        let mut ids: Vec<_> = self.dev.records.keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        ids.sort();
        let id = ids[rec % ids.len()];
        let hlc = self.dev.stamp();
        let r = &self.dev.records[&id];
        let names = ["Hasnah", "Hasna", "Nurhayati", "Nur Hayati"];
        let phones = [
            "081234567890",
            "081298765432",
            "085211112222",
            "087733334444",
        ];
        let e = Edit::update(r, hlc);
        let e = match what {
            0 => e.set("full_name", names[value as usize]),
            1 => e.set("phone", phones[value as usize]),
            _ if value.is_multiple_of(2) => e.add("programmes", "JHT"),
            _ => e.remove("programmes", "JHT"),
        };
        let op = e.expect("edit").finish();
        self.dev.local(op);
    }
}

static CASE: AtomicUsize = AtomicUsize::new(0);

async fn run_case(s: &TestServer, steps: &[Step]) -> Result<(), TestCaseError> {
    // Each case gets its own village, so cases sharing the server do not see each other.
    let n = CASE.fetch_add(1, Ordering::SeqCst);
    let village = villages("7371")[n % villages("7371").len()].clone();
    let officer = s.officer(&format!("prop-{n}"), &[village.as_str()]).await;
    let mut phones = Vec::new();
    for _ in 0..DEVICES {
        phones.push(Phone {
            dev: s.device(&officer).await,
            lost: None,
        });
    }
    for st in steps {
        match st {
            Step::Create(d) => {
                phones[*d].dev.register_worker(&village, "Hasnah");
            }
            Step::Edit {
                dev,
                rec,
                what,
                value,
            } => phones[*dev].edit(*rec, *what, *value),
            Step::Push { dev, lose } => phones[*dev].push(*lose).await,
            Step::Pull { dev, lose, limit } => phones[*dev].pull(*lose, *limit).await,
            Step::Sync(d) => {
                if phones[*d].lost.is_none() {
                    phones[*d].dev.sync_once().await;
                }
            }
        }
    }
    // Everyone comes back online: resend lost batches, push everything, then pull everything.
    for p in &mut phones {
        p.push(false).await;
        p.dev.push_all().await;
    }
    for p in &mut phones {
        p.dev.pull_all().await;
    }
    let first = phones[0].dev.state();
    for p in &phones[1..] {
        prop_assert_eq!(&p.dev.state(), &first);
    }
    for (id, state) in &first {
        let server = s.record(*id).await.map(|r| RecordV1::from(&r));
        prop_assert_eq!(server.as_ref(), Some(state));
    }
    for p in &phones {
        prop_assert!(
            p.dev.rejected.is_empty(),
            "no valid op was refused: {:?}",
            p.dev.rejected
        );
    }
    Ok(())
}

#[test]
fn random_interleavings_with_retries_converge() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for b in backends() {
        let server: TestServer = rt.block_on(TestServer::start(b));
        let config = ProptestConfig {
            cases: 64,
            ..ProptestConfig::default()
        };
        proptest!(config, |(steps in prop::collection::vec(step(), 1..40))| {
            rt.block_on(run_case(&server, &steps))?;
        });
        rt.block_on(server.stop());
    }
    let _ = Backend::Sqlite;
}
