//! Links the Hermit kernel when the server is compiled for `x86_64-unknown-hermit`.
//! The image recipe (scripts/images/hermit) builds the post-processed `libhermit.a` and
//! names its folder in `HERMIT_LIB_DIR`. Other targets need nothing.

fn main() {
    println!("cargo:rerun-if-env-changed=HERMIT_LIB_DIR");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("hermit") {
        let dir = std::env::var("HERMIT_LIB_DIR")
            .expect("HERMIT_LIB_DIR must name the folder holding libhermit.a");
        println!("cargo:rerun-if-changed={dir}/libhermit.a");
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-lib=static=hermit");
    }
}
