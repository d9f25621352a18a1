//! The backend contract (dogpile's `_GenericBackendTestSuite`, backend part).

use dogpile::{Bytes, CacheKey, Error};

use crate::Fixture;

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Reading keys that were never written gives nothing.
pub async fn get_nothing(f: Fixture) {
    let backend = f.backend();
    assert_eq!(backend.get(&"missing".into()).await.unwrap(), None);
    let keys = [CacheKey::from("m1"), CacheKey::from("m2")];
    assert_eq!(backend.get_multi(&keys).await.unwrap(), vec![None, None]);
    assert_eq!(backend.get_multi(&[]).await.unwrap(), Vec::<Option<Bytes>>::new());
}

/// What is set is got back; a second set replaces it.
pub async fn set_get_overwrite(f: Fixture) {
    let backend = f.backend();
    let key = CacheKey::from("k");
    backend.set(&key, b("one")).await.unwrap();
    assert_eq!(backend.get(&key).await.unwrap(), Some(b("one")));
    backend.set(&key, b("two")).await.unwrap();
    assert_eq!(backend.get(&key).await.unwrap(), Some(b("two")));
}

/// A deleted key is gone; deleting a missing key is fine.
pub async fn delete(f: Fixture) {
    let backend = f.backend();
    let key = CacheKey::from("k");
    backend.set(&key, b("v")).await.unwrap();
    backend.delete(&key).await.unwrap();
    assert_eq!(backend.get(&key).await.unwrap(), None);
    backend.delete(&"never-set".into()).await.unwrap();
}

/// Multi reads answer in the caller's order, duplicates included.
pub async fn multi_order_and_duplicates(f: Fixture) {
    let backend = f.backend();
    let items = vec![(CacheKey::from("a"), b("A")), (CacheKey::from("b"), b("B")), (CacheKey::from("a"), b("A2"))];
    backend.set_multi(&items).await.unwrap();
    let keys = [CacheKey::from("b"), CacheKey::from("x"), CacheKey::from("a"), CacheKey::from("b")];
    assert_eq!(
        backend.get_multi(&keys).await.unwrap(),
        vec![Some(b("B")), None, Some(b("A2")), Some(b("B"))],
        "the later pair for a key wins, and results follow the caller's order"
    );
}

/// `delete_multi` removes each key, and only those.
pub async fn delete_multi(f: Fixture) {
    let backend = f.backend();
    let items: Vec<_> = (0..5).map(|i| (CacheKey::from(format!("k{i}")), Bytes::from(vec![i as u8]))).collect();
    backend.set_multi(&items).await.unwrap();
    backend.delete_multi(&[CacheKey::from("k1"), CacheKey::from("k3"), CacheKey::from("nope")]).await.unwrap();
    let keys: Vec<CacheKey> = items.iter().map(|(k, _)| k.clone()).collect();
    let got = backend.get_multi(&keys).await.unwrap();
    assert_eq!(
        got,
        vec![Some(Bytes::from(vec![0])), None, Some(Bytes::from(vec![2])), None, Some(Bytes::from(vec![4]))]
    );
}

/// Any bytes, empty and non-UTF-8 included, come back unchanged.
pub async fn binary_values(f: Fixture) {
    let backend = f.backend();
    let all: Bytes = (0..=255u8).collect::<Vec<_>>().into();
    backend.set(&"bin".into(), all.clone()).await.unwrap();
    backend.set(&"empty".into(), Bytes::new()).await.unwrap();
    assert_eq!(backend.get(&"bin".into()).await.unwrap(), Some(all));
    assert_eq!(backend.get(&"empty".into()).await.unwrap(), Some(Bytes::new()));
}

/// Hash keys are stored apart from plain keys, or refused with a clear error.
pub async fn hash_keys(f: Fixture) {
    let region = f.region(|b| b);
    if f.backend().capabilities().hash_keys {
        region.set("h,f1", &"plain").await.unwrap();
        region.set(("h", "f1"), &"field one").await.unwrap();
        region.set(("h", "f2"), &"field two").await.unwrap();
        assert_eq!(region.get::<String>(("h", "f1")).await.unwrap().as_deref(), Some("field one"));
        let got: Vec<Option<String>> = region
            .get_multi([CacheKey::hash("h", "f2"), CacheKey::hash("h", "zz"), CacheKey::hash("h", "f1")])
            .await
            .unwrap();
        assert_eq!(got, vec![Some("field two".into()), None, Some("field one".into())]);
        region.delete(("h", "f1")).await.unwrap();
        assert_eq!(region.get::<String>(("h", "f1")).await.unwrap(), None);
        assert_eq!(region.get::<String>(("h", "f2")).await.unwrap().as_deref(), Some("field two"));
        assert_eq!(
            region.get::<String>("h,f1").await.unwrap().as_deref(),
            Some("plain"),
            "plain keys are apart from fields"
        );
    } else {
        let err = region.set(("h", "f"), &1).await.unwrap_err();
        assert!(matches!(err, Error::UnsupportedKey { .. }), "expected UnsupportedKey, got {err:?}");
        assert_eq!(err.key(), Some(&CacheKey::hash("h", "f")));
    }
}
