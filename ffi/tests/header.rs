//! Checks that the committed `include/routeyard.h` is what cbindgen generates now.
//!
//! Run with `RY_BLESS=1` (or `make header`) to rewrite the header instead.

use std::path::Path;

#[test]
fn committed_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header_path = crate_dir.join("../include/routeyard.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("ffi/cbindgen.toml is readable and valid");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can parse the ffi crate");
    let mut generated = Vec::new();
    bindings.write(&mut generated);

    if std::env::var_os("RY_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&header_path, &generated).expect("include/routeyard.h is writable");
        eprintln!("wrote {}", header_path.display());
        return;
    }

    let committed = std::fs::read(&header_path).unwrap_or_default();
    if committed != generated {
        let first_difference = committed
            .split(|&b| b == b'\n')
            .zip(generated.split(|&b| b == b'\n'))
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one file is a prefix of the other".to_owned(),
                |line| format!("first difference at line {}", line + 1),
            );
        panic!(
            "include/routeyard.h is stale ({first_difference}); regenerate it with `make header` \
             and commit the result"
        );
    }
}
