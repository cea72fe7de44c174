use super::*;
use std::io::Write;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_without_file() {
    let l = Settings::load(&Args::default(), env(&[])).unwrap();
    assert_eq!(l.settings.service.http_port, 6333);
    assert_eq!(l.settings.storage.storage_path, PathBuf::from("./storage"));
    assert!(!l.settings.cluster.enabled);
    assert_eq!(l.settings.cluster.p2p.port, 6335);
}

#[test]
fn file_then_env_then_flags() {
    let mut f = tempfile::NamedTempFile::with_suffix(".yaml").unwrap();
    writeln!(
        f,
        "log_level: DEBUG\nservice:\n  http_port: 7000\n  api_key: from-file\nstorage:\n  storage_path: /tmp/a\n  optimizers:\n    x: 1\nfoo: bar"
    )
    .unwrap();
    let args = Args {
        config_path: Some(f.path().to_path_buf()),
        uri: Some("http://a:6335".into()),
        ..Args::default()
    };
    let l = Settings::load(
        &args,
        env(&[
            ("QDRANT__SERVICE__HTTP_PORT", "7100"),
            ("QDRANT__STORAGE__STORAGE_PATH", "/tmp/b"),
            ("QDRANT__LOG_LEVEL", "warn"),
            ("QDRANT__CLUSTER__ENABLED", "true"),
            ("QDRANT__SERVICE__API_KEY", "123"),
        ]),
    )
    .unwrap();
    let s = l.settings;
    assert_eq!(s.service.http_port, 7100);
    assert_eq!(s.storage.storage_path, PathBuf::from("/tmp/b"));
    assert_eq!(s.log_level, "warn");
    assert!(s.cluster.enabled);
    assert_eq!(s.service.api_key.as_deref(), Some("123"));
    assert_eq!(s.uri.as_deref(), Some("http://a:6335"));
    assert!(
        l.ignored_keys.iter().any(|k| k == "foo"),
        "{:?}",
        l.ignored_keys
    );
    assert!(
        l.ignored_keys
            .iter()
            .any(|k| k.starts_with("storage.optimizers")),
        "{:?}",
        l.ignored_keys
    );
}

#[test]
fn invalid_values_are_errors() {
    let e = Settings::load(
        &Args::default(),
        env(&[("QDRANT__SERVICE__HTTP_PORT", "notaport")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("http_port"), "{e}");
    assert!(Settings::load(
        &Args::default(),
        env(&[("QDRANT__SERVICE__HTTP_PORT", "70000")])
    )
    .is_err());
    assert!(Settings::load(&Args::default(), env(&[("QDRANT__LOG_LEVEL", "LOUD")])).is_err());
    let missing = Args {
        config_path: Some("/nonexistent/c.yaml".into()),
        ..Args::default()
    };
    assert!(matches!(
        Settings::load(&missing, env(&[])),
        Err(ConfigError::Missing(_))
    ));
}
