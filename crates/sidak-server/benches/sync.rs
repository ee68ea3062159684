//! Placeholder until the sync benchmark lands.
fn main() {}
