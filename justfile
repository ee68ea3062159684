# Everyday commands. Nothing here is needed for the README's two commands.

# Run every test (what CI runs, without starting services).
test:
    cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Benchmarks of the merge engine, the device store and the server; then the field sync workload.
bench:
    cargo bench --workspace
    cargo run --release -p sidak -- bench

# The server on its embedded SQLite default.
serve:
    cargo run --release -p sidak -- serve

# A self-contained field day: server, five devices, offline edits, sync, conflicts.
demo:
    cargo run --release -p sidak -- demo

# Fuzz a decoder for a while (needs cargo-fuzz; works on stable with RUSTC_BOOTSTRAP=1).
fuzz target="op_v1" secs="60":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {{target}} -- -max_total_time={{secs}}

# Regenerate the protocol vectors after an intended format change.
vectors:
    SIDAK_UPDATE_VECTORS=1 cargo test -p sidak-core --test vectors
