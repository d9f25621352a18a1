//! Secrets never appear in `Debug` output or errors, whatever the URL looks like: a password
//! with an unescaped `/`, `#`, `?`, `:` or `@` is exactly what a generated password has.

use dogpile::Region;
use dogpile::config::{Arguments, redact_url};
use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
use proptest::prelude::*;

fn shapes(password: &str) -> Vec<String> {
    vec![
        format!("redis://:{password}@127.0.0.1:1/0"),
        format!("redis://app:{password}@cache.internal:6380/3"),
        format!("redis://{password}@cache"),
        format!("rediss://default:{password}@cache:6380/0?protocol=resp3"),
        format!("redis://user:{password}@[::1]:1"),
    ]
}

fn assert_hidden(password: &str, shown: &str, what: &str) {
    assert!(!shown.contains(password), "{what} shows the password {password:?}: {shown}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn passwords_never_show(password in "[A-Za-z0-9/#?@:%!$&'()*+,;=~._-]{8,24}") {
        dogpile_redis::register();
        for url in shapes(&password) {
            assert_hidden(&password, &redact_url(&url), "redact_url");
            let config = RedisConfig::from_url(&url).password(&password);
            assert_hidden(&password, &format!("{config:?}"), "RedisConfig Debug");
            match RedisAdvancedBackend::new(config) {
                Ok(backend) => assert_hidden(&password, &format!("{backend:?}"), "backend Debug"),
                Err(err) => {
                    assert_hidden(&password, &err.to_string(), "build error");
                    assert_hidden(&password, &format!("{err:?}"), "build error Debug");
                }
            }
            let args = Arguments::new().with("url", url.as_str()).with("password", password.as_str());
            assert_hidden(&password, &format!("{args:?}"), "Arguments Debug");
            let built = Region::builder().configure("dogpile_backend_redis_advanced", args.clone()).build();
            if let Err(err) = built {
                assert_hidden(&password, &err.to_string(), "region build error");
            }
            let wrong = args.with("port", "not a port");
            if let Err(err) = RedisConfig::from_arguments(&wrong) {
                assert_hidden(&password, &err.to_string(), "argument error");
            }
        }
    }
}

/// The defect: `redis://:s3cret/x@127.0.0.1:1/0` was printed in full. It does not parse as a
/// URL (the `/` ends the authority), so none of it is shown; escaped, it parses and only the
/// password is hidden.
#[tokio::test]
async fn a_password_with_a_slash_is_hidden_in_connection_errors_too() {
    let url = "redis://:s3cret/x@127.0.0.1:1/0";
    assert_eq!(redact_url(url), dogpile::config::UNPARSABLE_URL);
    assert_eq!(redact_url("redis://:s3cret%2Fx@127.0.0.1:1/0"), "redis://<redacted>@127.0.0.1:1/0");
    let config = RedisConfig::from_url(url).socket_connect_timeout(std::time::Duration::from_millis(200));
    assert!(!format!("{config:?}").contains("s3cret"));
    match RedisAdvancedBackend::new(config) {
        Err(err) => assert!(!err.to_string().contains("s3cret"), "{err}"),
        Ok(backend) => {
            let region = Region::builder().backend(backend).build().unwrap();
            let err = region.get::<u8>("k").await.unwrap_err();
            assert!(!err.to_string().contains("s3cret") && !format!("{err:?}").contains("s3cret"), "{err}");
        }
    }
}
