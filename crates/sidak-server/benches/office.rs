//! Office benchmark (filled in next).

fn main() {}
