//! Generates the Kotlin, Swift and Python bindings from the built library (`generate --library`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
