//! Every shipped config under configs/ parses and validates.

use std::path::Path;

#[test]
fn shipped_configs_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let cfg = ccpipe_pipeline::config::load(std::slice::from_ref(&path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        ccpipe::service::validate(&cfg)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.join("\n")));
        assert!(!cfg.service.pipelines.is_empty(), "{}", path.display());
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the shipped configs, found {checked}"
    );
}

#[test]
fn builtin_default_validates() {
    let cfg = ccpipe_pipeline::config::load(&[]).expect("default loads");
    ccpipe::service::validate(&cfg).expect("default validates");
    assert_eq!(cfg.service.pipelines.len(), 3);
}
