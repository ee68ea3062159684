//! Fixtures shared by the client's tests against fakes.
#![allow(dead_code)]

use sidak_store::Changes;

/// Every field a new worker registration needs, for worker `i`.
pub fn worker(i: u32) -> Changes {
    Changes::new()
        .set("nik", format!("737101550690{:04}", i + 1))
        .set("full_name", format!("Worker {i}"))
        .set("birth_date", "1990-06-15")
        .set("sex", "female")
        .set("occupation", "fisher")
        .set("monthly_income", 1_500_000i64)
        .add("programmes", "JKK")
        .add("programmes", "JKM")
        .set("payer", "self")
        .set("consent", true)
        .set("status", "submitted")
}
