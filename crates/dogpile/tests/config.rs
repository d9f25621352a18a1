//! Configuration by name, from flat settings and from TOML.

use dogpile::config::Arguments;
use dogpile::registry;
use dogpile::{Error, Region, RegionBuilder};

#[tokio::test]
async fn toml_file_configures_backend_expiry_and_codec() {
    let dir = std::env::temp_dir().join(format!("dogpile-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cache.toml");
    std::fs::write(
        &path,
        r#"
        [cache.short]
        backend = "dogpile.cache.memory"
        expiration_time = 2.5
        arguments = { capacity = 10, serializer = "json", envelope = "dogpile1", redis_expiration_time = 30 }
        "#,
    )
    .unwrap();
    let region = RegionBuilder::from_toml_file(&path, "cache.short").unwrap().build().unwrap();
    assert_eq!(region.expiration_time(), Some(2.5));
    assert_eq!(region.codec().format().name(), "json");
    assert_eq!(region.codec().envelope().name(), "dogpile1");
    region.set("k", &1).await.unwrap();
    assert_eq!(region.get::<i32>("k").await.unwrap(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_types_are_errors_naming_the_key() {
    let err = RegionBuilder::from_toml_str("backend = \"memory\"\nexpiration_time = \"soon\"", "").unwrap_err();
    assert!(matches!(&err, Error::Config { name, .. } if name == "expiration_time"), "{err:?}");
    let err = RegionBuilder::from_toml_str("[c]\nbackend = \"memory\"\narguments = { capacity = \"big\" }", "c")
        .unwrap()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("`capacity`"), "{err}");
    let err = RegionBuilder::from_toml_str("[c]\nbackend = 5", "c").unwrap_err();
    assert!(matches!(&err, Error::Config { name, .. } if name == "c.backend"), "{err:?}");
    let err = RegionBuilder::from_toml_str("[c]\nbackend = \"memory\"", "d").unwrap_err();
    assert!(err.to_string().contains("`d`"), "{err}");
    let err = RegionBuilder::from_toml_str("not toml [", "").unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
    let err = RegionBuilder::from_toml_str("backend = \"memory\"\narguments = { serializer = \"marshal\" }", "")
        .unwrap()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("serializer"), "{err}");
}

#[test]
fn flat_settings_like_configure_from_config() {
    let settings = vec![
        ("app.cache.backend".to_string(), "memory".to_string()),
        ("app.cache.expiration_time".to_string(), "-1".to_string()),
        ("app.cache.arguments.capacity".to_string(), "100".to_string()),
        ("app.cache.arguments.not_known".to_string(), "whatever".to_string()),
        ("other.backend".to_string(), "null".to_string()),
    ];
    let region = Region::builder_from_config(settings.clone(), "app.cache.").unwrap().build().unwrap();
    assert_eq!(region.expiration_time(), None, "-1 means no expiration");
    assert_eq!(region.backend().name(), "memory");
    let err = Region::builder_from_config(settings, "missing.").unwrap_err();
    assert!(matches!(&err, Error::Config { name, .. } if name == "missing.backend"), "{err:?}");
    let err = Region::builder_from_config([("x.backend", "memory"), ("x.expiration_time", "later")], "x.").unwrap_err();
    assert!(matches!(&err, Error::Config { name, .. } if name == "x.expiration_time"), "{err:?}");
}

#[test]
fn expiration_time_takes_a_duration_with_units() {
    let region = RegionBuilder::from_toml_str("backend = \"memory\"\nexpiration_time = \"1h 30m\"", "")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(region.expiration_time(), Some(5400.0));
    let region = Region::builder_from_config([("x.backend", "memory"), ("x.expiration_time", " 300ms ")], "x.")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(region.expiration_time(), Some(0.3));
    // Plain seconds, as dogpile writes them, still read as seconds.
    let region = Region::builder_from_config([("x.backend", "memory"), ("x.expiration_time", "90")], "x.")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(region.expiration_time(), Some(90.0));
    let err = RegionBuilder::from_toml_str("backend = \"memory\"\nexpiration_time = \"5 fortnights\"", "").unwrap_err();
    assert!(matches!(&err, Error::Config { name, .. } if name == "expiration_time"), "{err:?}");
    assert!(err.to_string().contains("1h 30m"), "{err}");
}

#[test]
fn unknown_backend_lists_the_registered_ones() {
    let err = Region::builder().configure("dogpile.cache.memcached", Arguments::new()).build().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("dogpile.cache.memcached") && text.contains("memory") && text.contains("null"), "{text}");
    assert!(registry::registered_backends().contains(&"dogpile.cache.memory".to_string()));
}
