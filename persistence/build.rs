//! Rebuild when a migration changes: the folder is embedded into the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
