//! sidak's device sync engine (being written: see issue 5).
